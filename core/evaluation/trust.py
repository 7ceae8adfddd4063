"""Abstention with a guarantee: the confidence above which the judge agrees with people, proven.

Trust or Escalate (Jung et al. 2024): from the pairs people reviewed, test the thresholds of a
sequence from high to low, each with the exact binomial test of "agreement above it < target",
and stop at the first that is not rejected (fixed-sequence testing: no correction for the number
of thresholds is needed). The lowest rejected threshold guarantees that the judge's agreement with
people on pairs above it is at least the target with probability 1 - alpha, over the draw of the
reviewed pairs; `lower_bound` is the Clopper–Pearson bound there. Which thresholds are tested
depends on the ranks of the confidences alone, never on the labels.

The promise holds for pairs like the reviewed ones: it assumes the reviewed pairs are a random
sample of the dataset (a queue sorted by the judge's confidence is not one), and it reads each
pair's latest judgment, leaving out pairs that the judgment's version or an ancestor trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.data.datasets import get_dataset
from core.errors import GramError
from core.evaluation.reviewed import number, reviewed_verdicts
from core.stats.binomial import at_least, lower_bound
from storage.tables import Pair

# The tested thresholds are the confidences of reviewed pairs, chosen by rank alone: the first is
# that of the `FIRST_SHARE` most confident (at least `fewest_to_pass` pairs), each next one takes in
# `GROWTH` times as many. A threshold on a few top pairs is a test that a judge right 97% of the time
# there still fails half the time, and the sequence ends at its first failure; a tenth of the reviews,
# growing by a quarter, kept the promise and found a threshold most often in a simulation
# (tests/test_abstention.py).
DEFAULT_TARGET, DEFAULT_ALPHA = 0.9, 0.05  # the studio's panel and queue, and the CLI's defaults
FIRST_SHARE = 0.1
GROWTH = 1.25


def fewest_to_pass(target: float, alpha: float) -> int:
    """The fewest reviewed pairs that could prove agreement >= target: all of them agreeing."""
    return math.ceil(math.log(alpha) / math.log(target))


def check_levels(target: float, alpha: float) -> None:
    if not 0.5 <= target < 1:
        raise GramError(f"target must be in [0.5, 1): {target}")
    if not 0 < alpha < 0.5:
        raise GramError(f"alpha must be in (0, 0.5): {alpha}")


@dataclass(frozen=True)
class Threshold:
    threshold: float  # trust the judge on pairs whose confidence is at least this
    n_above: int  # reviewed pairs at or above it
    agree_above: int  # of which the judge agreed with people
    lower_bound: float  # the guaranteed agreement (Clopper-Pearson, one-sided, 1 - alpha)


def _first_rank(reviewed: int, target: float, alpha: float) -> int:
    return max(fewest_to_pass(target, alpha), math.ceil(reviewed * FIRST_SHARE))


def choose_threshold(reviewed: Sequence[tuple[float, bool]], target: float, alpha: float) -> Threshold | None:
    """The lowest threshold passed by fixed-sequence testing; None when none passes.
    `reviewed`: (the judge's confidence, whether it agreed with people) per reviewed pair."""
    check_levels(target, alpha)
    ranked = sorted(reviewed, key=lambda r: -r[0])
    confidences = [c for c, _ in ranked]
    passed: Threshold | None = None
    rank = _first_rank(len(ranked), target, alpha)
    while rank <= len(ranked):
        point = confidences[rank - 1]
        n = sum(1 for c in confidences if c >= point)  # ties at the threshold are above it too
        agree = sum(ok for c, ok in ranked[:n])
        if at_least(agree, n, target) > alpha:
            break  # not rejected: the sequence stops here
        passed = Threshold(point, n, agree, lower_bound(agree, n, alpha))
        if n >= len(ranked):
            break
        rank = max(n + 1, math.ceil(rank * GROWTH))
    return passed


def more_reviews_needed(reviewed: Sequence[tuple[float, bool]], target: float, alpha: float) -> int | None:
    """About how many more random reviews the first test needs to pass, at the agreement seen on
    the most confident reviewed pairs (shrunk towards 1/2: a few pairs say little); None when that
    agreement is not above the target (more reviews would not help)."""
    fewest = fewest_to_pass(target, alpha)
    top = sorted(reviewed, key=lambda r: -r[0])[: _first_rank(len(reviewed), target, alpha)]
    rate = (sum(ok for _, ok in top) + 1) / (len(top) + 2)
    if rate <= target:
        return None if len(reviewed) >= fewest else fewest - len(reviewed)
    n = fewest
    while at_least(math.floor(rate * n), n, target) > alpha and n < 10_000_000:
        n = max(n + 1, math.ceil(n * 1.05))
    total = n if n <= fewest else math.ceil(n / FIRST_SHARE)
    return max(1, total - len(reviewed))


@dataclass(frozen=True)
class TrustReport:
    dataset: str
    target: float
    alpha: float
    threshold: float | None
    coverage: float | None  # share of the dataset's pairs whose latest confidence is >= threshold
    covered: int
    pairs: int
    n_reviewed: int  # reviewed pairs (A or B, judged, not trained on) the test read
    n_above: int
    agree_above: int
    lower_bound: float | None
    trained_excluded: int  # reviewed pairs left out: the judge trained on them
    needed: int | None  # more reviews needed for a threshold, when there is none
    models: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def verdict(self) -> str:
        if self.threshold is not None and self.coverage is not None and self.lower_bound is not None:
            return (
                f"trust the judge at confidence >= {self.threshold:.3f}: {self.covered} of {self.pairs} pairs "
                f"({self.coverage:.1%}); there it agrees with people at least {self.lower_bound:.3f} of the time "
                f"with probability {1 - self.alpha:.0%} ({self.agree_above} of {self.n_above} reviewed pairs "
                f"agree); the other {self.pairs - self.covered} need a person"
            )
        if self.needed is not None:
            return (
                f"no threshold yet: {self.n_reviewed} reviewed pairs; review about {self.needed} more "
                f"(at random, not sorted by confidence) to prove {self.target:.0%} agreement"
            )
        return (
            f"no threshold: on {self.n_reviewed} reviewed pairs the judge's agreement with people is not above "
            f"{self.target:.0%} even where it is most confident; every pair needs a person"
        )

    def lines(self) -> list[str]:
        trained = f"; {self.trained_excluded} left out (the judge trained on them)" if self.trained_excluded else ""
        return [
            f"{self.dataset}: target agreement {self.target:.0%} with probability {1 - self.alpha:.0%}",
            f"judge: {', '.join(self.models) or 'none'} · reviewed pairs read: {self.n_reviewed}{trained}",
            self.verdict,
            "valid for pairs like the reviewed ones: it assumes they are a random sample of the dataset",
        ]


def dataset_trust(
    session: Session, dataset: str, target: float = DEFAULT_TARGET, alpha: float = DEFAULT_ALPHA
) -> TrustReport:
    """The trust threshold of the dataset's latest judgments, from its people's final labels."""
    check_levels(target, alpha)
    found = get_dataset(session, dataset)
    settled = reviewed_verdicts(session, found.id)
    reviewed = [(number(v.judgment.confidence, 0.0), v.judgment.label == v.label) for v in settled.verdicts]
    models = {v.judgment.model for v in settled.verdicts}
    chosen = choose_threshold(reviewed, target, alpha)
    pairs = session.scalar(select(func.count()).select_from(Pair).where(Pair.dataset_id == found.id)) or 0
    covered = 0
    if chosen is not None:
        covered = (
            session.scalar(
                select(func.count())
                .select_from(Pair)
                .where(Pair.dataset_id == found.id, Pair.latest_confidence >= chosen.threshold)
            )
            or 0
        )
    return TrustReport(
        dataset=found.name,
        target=target,
        alpha=alpha,
        threshold=chosen.threshold if chosen else None,
        coverage=covered / pairs if chosen and pairs else None,
        covered=covered,
        pairs=pairs,
        n_reviewed=len(reviewed),
        n_above=chosen.n_above if chosen else 0,
        agree_above=chosen.agree_above if chosen else 0,
        lower_bound=chosen.lower_bound if chosen else None,
        trained_excluded=settled.trained,
        needed=None if chosen else more_reviews_needed(reviewed, target, alpha),
        models=sorted(models),
    )
