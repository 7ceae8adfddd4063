"""Prediction-powered inference for a mean (Angelopoulos et al. 2023; PPI++, Angelopoulos, Duchi and
Zrnic 2023): a few labels from people plus a judge's predictions on every pair, unbiased, with a
valid interval.

    theta = lam * mean(f on the unlabelled pairs) + mean(y - lam * f on the labelled pairs)

The second term corrects the judge's bias with the labelled pairs, so the estimate is unbiased
whatever the judge; `lam` (power tuning, in [0, 1]) weighs the judge by how much its predictions
track the labels: 0 gives the naive mean of the labels, 1 classic PPI. The interval is the normal
one from the two terms' variances. It assumes the labelled pairs are a random sample of all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.stats.intervals import wilson_interval

Z95 = 1.959963984540054


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _var(xs: Sequence[float]) -> float:
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0


def _cov(xs: Sequence[float], ys: Sequence[float]) -> float:
    mx, my = _mean(xs), _mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (len(xs) - 1) if len(xs) > 1 else 0.0


@dataclass(frozen=True)
class PpiMean:
    estimate: float
    interval: tuple[float, float]
    lam: float  # the judge's weight (power tuning)
    labelled: int
    unlabelled: int
    var_judge: float  # variance of lam * f over the unlabelled pairs
    var_rectifier: float  # variance of y - lam * f over the labelled pairs

    def reviews_for(self, half_width: float, z: float = Z95) -> int | None:
        """Labelled pairs in all for a 95% interval of ±half_width, each new review taken from the
        unlabelled pairs (their number in all stays); None when even reviewing all but one of
        them would not get there."""
        total = self.labelled + self.unlabelled
        for n in range(self.labelled, total):
            if z * math.sqrt(self.var_judge / (total - n) + self.var_rectifier / n) <= half_width:
                return n
        return None


def ppi_mean(labels: Sequence[float], on_labelled: Sequence[float], on_unlabelled: Sequence[float]) -> PpiMean | None:
    """The PPI++ estimate of the mean of y from labels y (with the judge's f on the same pairs) and
    the judge's f on unlabelled pairs; None under two labelled or two unlabelled pairs."""
    n, big_n = len(labels), len(on_unlabelled)
    if n < 2 or big_n < 2 or len(on_labelled) != n:
        return None
    var_f = _var([*on_labelled, *on_unlabelled])
    lam = 0.0 if var_f == 0 else _cov(labels, on_labelled) / ((1 + n / big_n) * var_f)
    lam = min(1.0, max(0.0, lam))
    rectifier = [y - lam * f for y, f in zip(labels, on_labelled, strict=True)]
    judge = [lam * f for f in on_unlabelled]
    estimate = _mean(judge) + _mean(rectifier)
    var_judge, var_rectifier = _var(judge), _var(rectifier)
    half = Z95 * math.sqrt(var_judge / big_n + var_rectifier / n)
    interval = (estimate - half, estimate + half)
    if lam == 0 and all(y in (0, 1) for y in labels):
        # The judge is given no weight: this is the labels' own proportion, and its normal interval
        # collapses to a point when they all agree; Wilson's does not.
        interval = wilson_interval(round(sum(labels)), n) or interval
    return PpiMean(estimate, interval, lam, n, big_n, var_judge, var_rectifier)
