"""The figures of judgments against labels: accuracy, position consistency, calibration.

Accuracy counts a pair only when the preferred response wins outright: ties in the reference
are left out (and counted), and an undecided judgment (label "tie": P(A) within the backend's
precision of 0.5, or exactly 0.5 from a store written before that rule) is wrong either way, and
counted, so that a judge cannot look better by abstaining.
Calibration: the confidence is P(label) over {A, B}; the reliability table splits [0, 1] into
equal bins (a generative verdict can name the letter its answer slot finds less likely), and ECE
is the count-weighted mean |accuracy - confidence| over every scored pair with a confidence.
Accuracy comes with its Wilson 95% interval, and the labels forced at the answer slot are counted.
No figure counts a pair the verdict's version (or an ancestor) trained on: those are left out and
counted. Position consistency counts only verdicts whose two orders were judged apart: a judge
head gives the swapped pair exactly 1 - P(A), so its orders agree by construction (counted apart).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.stats.intervals import wilson_interval
from core.vocab import DECISIVE, Label


@dataclass(frozen=True)
class Scored:
    reference: str | None  # A, B, tie or None
    label: str | None
    confidence: float | None
    prob_a: float | None
    consistent: bool | None
    source: str = ""
    forced: bool = False  # the reply had no label: it was read at the answer slot
    trained: bool = False  # the verdict's version or an ancestor trained on this pair: never counted
    by_construction: bool = False  # a judge head's orders: they agree by construction, not measured


@dataclass
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean confidence in the bin
    accuracy: float


@dataclass
class Evaluation:
    n: int  # pairs scored (reference A or B, with a judgment)
    accuracy: float
    accuracy_ci: tuple[float, float] | None  # Wilson 95% interval; None when nothing was scored
    ties_excluded: int
    unlabelled_excluded: int
    position_consistency: float | None  # share of pairs judged in both orders that agree
    consistency_n: int
    ece: float
    reliability: list[Bin]
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    forced: int = 0  # scored pairs whose label was forced at the answer slot
    undecided: int = 0  # scored pairs the judge named no winner for (counted wrong)
    trained_excluded: int = 0  # pairs left out of every figure: the model trained on them
    consistent_by_construction: int = 0  # scored pairs whose orders a judge head made agree

    @property
    def left_out(self) -> str:
        """What the figures leave out, in words."""
        trained = f"; trained on (never counted): {self.trained_excluded}" if self.trained_excluded else ""
        return f"ties left out: {self.ties_excluded}, no reference: {self.unlabelled_excluded}{trained}"

    @property
    def consistency_text(self) -> str | None:
        """Position consistency as measured, or why there is none to measure."""
        if self.position_consistency is not None:
            built = (
                f" ({self.consistent_by_construction} more by construction: a judge head)"
                if self.consistent_by_construction
                else ""
            )
            return f"{self.position_consistency:.3f} on {self.consistency_n}{built}"
        if self.consistent_by_construction:
            return (
                f"consistent by construction on {self.consistent_by_construction} (a judge head gives the "
                "swapped pair 1 - P(A); position bias is not measured)"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"pairs scored: {self.n} ({self.left_out})"]
        for source, figures in sorted(self.per_source.items()):
            out.append(f"  {source}: accuracy {figures['accuracy']:.3f} on {int(figures['n'])}")
        if self.consistency_text is not None:
            out.append(f"position consistency: {self.consistency_text}")
        if self.accuracy_ci is not None:
            low, high = self.accuracy_ci
            out.append(f"accuracy: {self.accuracy:.3f} (95% CI {low:.3f}-{high:.3f}) on {self.n}")
        if self.n:
            out.append(f"labels forced at the answer slot (the reply had none): {self.forced} of {self.n}")
            out.append(
                f"undecided (P(A) within the backend's precision of 0.5; counted wrong): {self.undecided} of {self.n}"
            )
        out.append(f"ECE: {self.ece:.4f}")
        out.append("reliability (confidence bin: n, mean confidence, accuracy):")
        for b in self.reliability:
            out.append(f"  [{b.low:.2f}, {b.high:.2f}): {b.count}, {b.confidence:.3f}, {b.accuracy:.3f}")
        out.append(f"accuracy={self.accuracy:.4f} n={self.n}")
        return out


def is_undecided(item: Scored) -> bool:
    """The judge named no winner: a tie label, or an exact 0.5 stored as "A" by older versions."""
    return item.label == Label.TIE or (item.prob_a is not None and item.prob_a == 0.5)


def is_correct(item: Scored) -> bool:
    """Right only when the preferred response wins outright (undecided is wrong either way)."""
    return not is_undecided(item) and item.label == item.reference


def evaluate(items: Sequence[Scored], bins: int = 10) -> Evaluation:
    """The figures of `items`; the reliability table splits [0, 1] into `bins` equal bins."""
    trained = sum(1 for i in items if i.trained)
    items = [i for i in items if not i.trained]
    ties = sum(1 for i in items if i.reference == Label.TIE)
    unlabelled = sum(1 for i in items if i.reference is None)
    scored = [i for i in items if i.reference in DECISIVE and i.label is not None]
    correct = [is_correct(i) for i in scored]
    accuracy = sum(correct) / len(scored) if scored else 0.0

    both = [i for i in scored if i.consistent is not None and not i.by_construction]
    consistency = sum(1 for i in both if i.consistent) / len(both) if both else None

    # Over the whole range: a generative verdict's confidence, P(its label) at the answer slot,
    # falls below 0.5 when the slot prefers the other letter.
    calibrated = sum(1 for i in scored if i.confidence is not None)
    width = 1.0 / bins
    table, ece = [], 0.0
    for b in range(bins):
        low, high = b * width, (b + 1) * width
        members = [
            (i.confidence, ok)
            for i, ok in zip(scored, correct, strict=True)
            if i.confidence is not None and (low <= i.confidence < high or (b == bins - 1 and i.confidence == 1.0))
        ]
        if not members:
            table.append(Bin(low, high, 0, 0.0, 0.0))
            continue
        mean_conf = sum(c for c, _ in members) / len(members)
        acc = sum(1 for _, ok in members if ok) / len(members)
        ece += len(members) / calibrated * abs(acc - mean_conf)
        table.append(Bin(low, high, len(members), mean_conf, acc))

    per_source: dict[str, list[bool]] = defaultdict(list)
    for item, ok in zip(scored, correct, strict=True):
        per_source[item.source].append(ok)
    return Evaluation(
        n=len(scored),
        accuracy=accuracy,
        accuracy_ci=wilson_interval(sum(correct), len(scored)),
        ties_excluded=ties,
        unlabelled_excluded=unlabelled,
        position_consistency=consistency,
        consistency_n=len(both),
        ece=ece,
        reliability=table,
        per_source={s: {"n": len(v), "accuracy": sum(v) / len(v)} for s, v in per_source.items()},
        forced=sum(1 for i in scored if i.forced),
        undecided=sum(1 for i in scored if is_undecided(i)),
        trained_excluded=trained,
        consistent_by_construction=sum(1 for i in scored if i.by_construction),
    )
