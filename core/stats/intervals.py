"""Intervals for a proportion, and the smallest sample a figure is shown for as a result."""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None for n = 0."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# Under this many pairs a figure is shown with "too few to tell" instead of as a result: the one
# threshold for every accuracy, agreement and before/after verdict in the studio.
MIN_VERDICT_PAIRS = 20


def pairs_for_half_width(accuracy: float = 0.5, half_width: float = 0.10, z: float = 1.96) -> int:
    """Held-out pairs for a 95% interval of ±`half_width` around `accuracy` (normal approximation)."""
    p = min(max(accuracy, 0.05), 0.95)  # an accuracy of 0 or 1 on a few pairs says little about the spread
    return math.ceil(z * z * p * (1 - p) / half_width**2)
