"""Exact binomial tails and the Clopper–Pearson bound: the tests behind guarantees that hold at
any sample size (no normal approximation), computed in log space so that n can be large."""

from __future__ import annotations

import math


def _log_pmf(i: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)


def at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    terms = [_log_pmf(i, n, p) for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def lower_bound(k: int, n: int, alpha: float) -> float:
    """The one-sided Clopper–Pearson lower bound: the smallest p at which k or more successes in n
    have probability at least `alpha`. The true proportion is at least this with probability 1 - alpha."""
    if n == 0 or k == 0:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(60):  # bisection to about 1e-18
        mid = (low + high) / 2
        if at_least(k, n, mid) < alpha:
            low = mid
        else:
            high = mid
    return low
