"""Factories for the fast tier: a dataset and its pairs in one line, so a test states only what it
is about."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from storage.tables import Dataset, Pair


def dataset(
    session: Session,
    n: int = 6,
    *,
    name: str | None = None,
    labels: Sequence[str | None] | str | None = "A",
    reviews_per_pair: int = 1,
    texts: Sequence[tuple[str, str, str]] | None = None,
) -> list[int]:
    """A dataset of `n` pairs (or one per `texts` row of prompt, A, B) and their ids, in order.
    `labels`: one reference label for all, one per pair, or None."""
    name = name or f"ds-{uuid.uuid4().hex[:8]}"
    found = Dataset(name=name, source="test", reviews_per_pair=reviews_per_pair)
    session.add(found)
    session.flush()
    rows = list(texts) if texts is not None else [(f"prompt {i}", f"answer a {i}", f"answer b {i}") for i in range(n)]
    per_pair = [labels] * len(rows) if labels is None or isinstance(labels, str) else list(labels)
    pairs = [
        Pair(
            dataset_id=found.id,
            prompt=prompt,
            response_a=a,
            response_b=b,
            reference_label=label,
            content_hash=f"{name}-{i}",
            source="test",
        )
        for i, ((prompt, a, b), label) in enumerate(zip(rows, per_pair, strict=True))
    ]
    session.add_all(pairs)
    session.flush()
    return [p.id for p in pairs]
