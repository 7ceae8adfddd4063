"""Before and after, on the same held-out pairs: each accuracy with its interval, and a paired test.

The two models judge the same pairs, so the honest comparison is paired: McNemar's exact test on
the pairs one got right and the other wrong (fixed vs broken). Under `MIN_VERDICT_PAIRS` held-out
pairs no verdict is given at all; the comparison says how many pairs a ±10-point interval needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from core.stats.intervals import MIN_VERDICT_PAIRS, pairs_for_half_width, wilson_interval

SIGNIFICANCE = 0.05


def mcnemar_p(fixed: int, broken: int) -> float:
    """Exact two-sided McNemar test: the binomial test of `fixed` against `broken` at one half."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class BeforeAfter:
    n: int  # held-out pairs both models judged
    before: float | None
    before_ci: tuple[float, float] | None
    after: float | None
    after_ci: tuple[float, float] | None
    fixed: int  # wrong before, right after
    broken: int  # right before, wrong after
    p_value: float  # McNemar, exact
    needed: int  # held-out pairs for a ±10-point interval at the current accuracy
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def worse(self) -> bool:
        """The "after" model is significantly worse (the regression gate's rule): enough pairs for a
        verdict, McNemar p under SIGNIFICANCE, and more broken than fixed."""
        return self.n >= MIN_VERDICT_PAIRS and self.p_value < SIGNIFICANCE and self.broken > self.fixed

    def lines(self) -> list[str]:
        def shown(value: float | None, ci: tuple[float, float] | None) -> str:
            if value is None or ci is None:
                return "-"
            return f"{value:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f})"

        return [
            f"held-out accuracy on {self.n} pairs: before {shown(self.before, self.before_ci)}, "
            f"after {shown(self.after, self.after_ci)}",
            f"fixed {self.fixed}, broken {self.broken} (McNemar exact p = {self.p_value:.3g})",
            f"verdict: {self.verdict}",
        ]


def compare(before: Sequence[bool], after: Sequence[bool]) -> BeforeAfter:
    """`before[i]` and `after[i]`: whether each model got held-out pair i right."""
    if len(before) != len(after):
        raise ValueError("before and after must judge the same pairs")
    n = len(before)
    fixed = sum(1 for b, a in zip(before, after, strict=True) if a and not b)
    broken = sum(1 for b, a in zip(before, after, strict=True) if b and not a)
    right_before, right_after = sum(before), sum(after)
    p_value = mcnemar_p(fixed, broken)
    needed = pairs_for_half_width(right_after / n if n else 0.5)
    if n < MIN_VERDICT_PAIRS:
        verdict = (
            f"none yet: {n} held-out pairs, and a verdict needs at least {MIN_VERDICT_PAIRS} "
            f"(about {needed} for a ±10-point interval); review more pairs"
        )
    elif p_value < SIGNIFICANCE:
        verdict = f"{'better' if fixed > broken else 'worse'} (p = {p_value:.3g} < {SIGNIFICANCE})"
    else:
        verdict = f"no clear change (p = {p_value:.3g}; fixed and broken could be chance)"
    return BeforeAfter(
        n,
        right_before / n if n else None,
        wilson_interval(right_before, n),
        right_after / n if n else None,
        wilson_interval(right_after, n),
        fixed,
        broken,
        p_value,
        needed,
        verdict,
    )
