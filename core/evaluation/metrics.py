"""The figures of judgments against labels: accuracy, position consistency, calibration.

Accuracy counts a pair only when the preferred response wins outright: ties in the reference
are left out (and counted), and a judgment with P(A) exactly 0.5 is wrong either way.
Calibration: the confidence is P(label) over {A, B}, so it lies in [0.5, 1]; the reliability
table splits that range into equal bins, and ECE is the count-weighted mean |accuracy - confidence|.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.vocab import DECISIVE, Label


@dataclass(frozen=True)
class Scored:
    reference: str | None  # A, B, tie or None
    label: str | None
    confidence: float | None
    prob_a: float | None
    consistent: bool | None
    source: str = ""


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
    ties_excluded: int
    unlabelled_excluded: int
    position_consistency: float | None  # share of pairs judged in both orders that agree
    consistency_n: int
    ece: float
    reliability: list[Bin]
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [
            f"pairs scored: {self.n} (ties left out: {self.ties_excluded}, no reference: {self.unlabelled_excluded})"
        ]
        for source, figures in sorted(self.per_source.items()):
            out.append(f"  {source}: accuracy {figures['accuracy']:.3f} on {int(figures['n'])}")
        if self.position_consistency is not None:
            out.append(f"position consistency: {self.position_consistency:.3f} on {self.consistency_n}")
        out.append(f"ECE: {self.ece:.4f}")
        out.append("reliability (confidence bin: n, mean confidence, accuracy):")
        for b in self.reliability:
            out.append(f"  [{b.low:.2f}, {b.high:.2f}): {b.count}, {b.confidence:.3f}, {b.accuracy:.3f}")
        out.append(f"accuracy={self.accuracy:.4f} n={self.n}")
        return out


def _correct(item: Scored) -> bool:
    if item.prob_a is not None and item.prob_a == 0.5:
        return False
    return item.label == item.reference


def evaluate(items: Sequence[Scored], bins: int = 5) -> Evaluation:
    ties = sum(1 for i in items if i.reference == Label.TIE)
    unlabelled = sum(1 for i in items if i.reference is None)
    scored = [i for i in items if i.reference in DECISIVE and i.label is not None]
    correct = [_correct(i) for i in scored]
    accuracy = sum(correct) / len(scored) if scored else 0.0

    both = [i for i in scored if i.consistent is not None]
    consistency = sum(1 for i in both if i.consistent) / len(both) if both else None

    width = 0.5 / bins
    table, ece = [], 0.0
    for b in range(bins):
        low, high = 0.5 + b * width, 0.5 + (b + 1) * width
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
        ece += len(members) / len(scored) * abs(acc - mean_conf)
        table.append(Bin(low, high, len(members), mean_conf, acc))

    per_source: dict[str, list[bool]] = defaultdict(list)
    for item, ok in zip(scored, correct, strict=True):
        per_source[item.source].append(ok)
    return Evaluation(
        n=len(scored),
        accuracy=accuracy,
        ties_excluded=ties,
        unlabelled_excluded=unlabelled,
        position_consistency=consistency,
        consistency_n=len(both),
        ece=ece,
        reliability=table,
        per_source={s: {"n": len(v), "accuracy": sum(v) / len(v)} for s, v in per_source.items()},
    )
