"""The pairs people settled with A or B, each with its latest verdict: what the trust threshold and
a dataset's calibration learn from. A pair that the verdict's version (or an ancestor) trained on is
left out and counted (core/model/lineage.py); skipped, tied and disputed pairs are not read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.model.lineage import TrainedOn
from core.review.consensus import dataset_finals
from core.vocab import DECISIVE
from storage.tables import Judgment, Pair, Review


@dataclass(frozen=True)
class ReviewedVerdict:
    label: str  # the pair's final label: A or B
    judgment: Judgment  # the pair's latest judgment


@dataclass(frozen=True)
class Reviewed:
    verdicts: list[ReviewedVerdict] = field(default_factory=list)
    trained: int = 0  # settled pairs left out: the verdict's version trained on them


def reviewed_verdicts(session: Session, dataset_id: int) -> Reviewed:
    """The dataset's pairs with a final A or B and a latest judgment, none the judgment's version trained on."""
    finals = dataset_finals(session, dataset_id)
    rows = session.execute(
        select(Pair.id, Pair.prompt, Pair.response_a, Pair.response_b, Judgment)
        .join(Judgment, Judgment.id == Pair.latest_judgment_id)
        .where(Pair.dataset_id == dataset_id, Pair.id.in_(select(Review.pair_id)))
    )
    trained_on = TrainedOn(session)
    verdicts, trained = [], 0
    for pair_id, prompt, a, b, judgment in rows:
        final = finals[pair_id].label if pair_id in finals else None
        if final not in DECISIVE:
            continue  # skipped, tied, disputed
        if trained_on(judgment.model_version_id, prompt, a, b):
            trained += 1
            continue
        verdicts.append(ReviewedVerdict(str(final), judgment))
    return Reviewed(verdicts, trained)


def number(value: Any, default: float) -> float:
    """A stored figure as a float, or `default` where the column holds no number (a damaged record)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
