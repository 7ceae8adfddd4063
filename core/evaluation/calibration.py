"""A dataset's own calibration of its judge: a temperature fitted on the pairs people reviewed.

A confidence is calibrated on data the model did not train on. The shipped default judge comes
calibrated across sources (benchmarks/default_judge_loso.py); a team's dataset is a source of its
own, so once people have reviewed enough of its pairs (none the verdict's version trained on) the
studio fits one temperature T to them, P(A) -> sigmoid(logit(P(A)) / T), by log loss, and shows
each verdict's confidence under it beside the model's own, saying on how many reviews it rests.
Under `MIN_VERDICT_PAIRS` reviews the model's own confidence stays in force, and the page says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.data.datasets import get_dataset
from core.evaluation.reviewed import reviewed_verdicts
from core.stats.intervals import MIN_VERDICT_PAIRS
from core.vocab import Label
from storage.tables import Pair

TEMPERATURES = tuple(round(0.25 * 1.15**i, 4) for i in range(50))  # 0.25 ... about 240
EDGE = 1e-6


def _logit(p: float) -> float:
    p = min(max(p, EDGE), 1 - EDGE)
    return math.log(p / (1 - p))


def _loss(logits: list[float], ys: list[bool], temperature: float) -> float:
    total = 0.0
    for z, y in zip(logits, ys, strict=True):
        z = z / temperature
        total += math.log1p(math.exp(-z)) if y else math.log1p(math.exp(z))
    return total / len(ys)


@dataclass(frozen=True)
class Calibration:
    temperature: float | None  # None: the model's own confidence is in force
    n: int  # reviewed pairs it rests on

    def prob_a(self, prob_a: float) -> float:
        if self.temperature is None:
            return prob_a
        return 1 / (1 + math.exp(-_logit(prob_a) / self.temperature))

    def confidence(self, prob_a: float) -> float:
        p = self.prob_a(prob_a)
        return max(p, 1 - p)

    @property
    def in_force(self) -> str:
        if self.temperature is None:
            more = (
                f"; a dataset calibration starts at {MIN_VERDICT_PAIRS} reviews" if self.n < MIN_VERDICT_PAIRS else ""
            )
            return f"the model's own ({self.n} reviewed pairs{more})"
        return f"this dataset's: temperature {self.temperature:.2f}, fitted on {self.n} reviewed pairs"


def fit_temperature(probs: list[float], ys: list[bool]) -> float:
    """The temperature of the grid with the least log loss of P(A) against whether A was preferred."""
    logits = [_logit(p) for p in probs]
    return min(TEMPERATURES, key=lambda t: _loss(logits, ys, t))


def dataset_calibration(session: Session, dataset: str) -> Calibration:
    """The calibration of the dataset's latest verdicts by its people's final labels (A or B)."""
    settled = reviewed_verdicts(session, get_dataset(session, dataset).id).verdicts
    probs, ys = [], []
    for v in settled:
        if isinstance(v.judgment.prob_a, float):
            probs.append(v.judgment.prob_a)
            ys.append(v.label == Label.A)
    if len(ys) < MIN_VERDICT_PAIRS:
        return Calibration(None, len(ys))
    return Calibration(fit_temperature(probs, ys), len(ys))


def pair_calibration(session: Session, pair_id: int) -> Calibration | None:
    """The calibration in force for the verdicts of the pair's dataset; None for no such pair."""
    pair = session.get(Pair, pair_id)
    return dataset_calibration(session, pair.dataset.name) if pair is not None else None
