"""Factories for the fast tier: datasets, pairs, judgments and reviews in a few lines each.

They write rows the way the studio's own code does (reviews through `save_review`, judgments as
rows whose store triggers keep each pair's latest), so a test states only what it is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.review.reviews import save_review
from core.vocab import label_for
from storage.tables import Dataset, Judgment, Pair, Review


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


def judgment(
    session: Session,
    pair_id: int,
    prob_a: float = 0.8,
    *,
    model: str = "scripted",
    consistent: bool | None = True,
    rationale: str | None = None,
    **fields: Any,
) -> Judgment:
    """A judgment of `pair_id` with P(A) `prob_a`: its label and confidence follow from it."""
    row = Judgment(
        pair_id=pair_id,
        model=model,
        backend="scripted",
        label=label_for(prob_a),
        prob_a=prob_a,
        confidence=max(prob_a, 1 - prob_a),
        consistent=consistent,
        rationale=rationale,
        orders=[],
        timings={},
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def review(
    session: Session, pair_id: int, label: str, *, reviewer: str = "tester", rationale: str | None = None
) -> Review:
    """A person's review, saved as the Review page saves it."""
    return save_review(session, pair_id, reviewer=reviewer, label=label, rationale=rationale)
