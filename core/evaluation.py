"""Judgments against reference labels: accuracy, position consistency, calibration.

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
        out = [f"pairs scored: {self.n} (ties left out: {self.ties_excluded}, no reference: {self.unlabelled_excluded})"]
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
    ties = sum(1 for i in items if i.reference == "tie")
    unlabelled = sum(1 for i in items if i.reference is None)
    scored = [i for i in items if i.reference in ("A", "B") and i.label is not None]
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


def stored_scores(session: Any, dataset_id: int, model: str, protocol: str, *, limit: int | None = None) -> list[Scored]:
    """The latest judgment of `model` under `protocol` for the dataset's first `limit` pairs
    with an A/B reference, plus its tie and unlabelled pairs (to be counted, not scored)."""
    from sqlalchemy import select

    from storage.models import Judgment, Pair

    labelled = select(Pair).where(Pair.dataset_id == dataset_id, Pair.reference_label.in_(("A", "B"))).order_by(Pair.id)
    if limit is not None:
        labelled = labelled.limit(limit)
    pairs = list(session.scalars(labelled))
    latest: dict[int, Judgment] = {}
    if pairs:
        query = (
            select(Judgment)
            .where(Judgment.pair_id.in_([p.id for p in pairs]), Judgment.model == model, Judgment.protocol == protocol)
            .order_by(Judgment.id)
        )
        latest = {j.pair_id: j for j in session.scalars(query)}
    items = [
        Scored(p.reference_label, j.label, j.confidence, j.prob_a, j.consistent, p.source)
        for p in pairs
        if (j := latest.get(p.id)) is not None
    ]
    others = session.scalars(
        select(Pair.reference_label).where(
            Pair.dataset_id == dataset_id,
            (Pair.reference_label == "tie") | Pair.reference_label.is_(None),
        )
    )
    items += [Scored(ref, None, None, None, None) for ref in others]
    return items


def evaluate_records(backend: Any, records: Sequence[Any], *, fast: bool, options: Any, limit: int | None = None) -> list[Scored]:
    """Judge the first `limit` A/B-labelled PairRecords in memory (nothing stored); the others
    (ties, unlabelled) are returned unscored, to be counted."""
    from core.judge import PairText, judge_pairs, score_pairs

    labelled = [r for r in records if r.label in ("A", "B")][:limit]
    texts = [PairText(r.prompt, r.response_a, r.response_b) for r in labelled]
    results = score_pairs(backend, texts) if fast else judge_pairs(backend, texts, options)
    items = [
        Scored(r.label, res.label, res.confidence, res.prob_a, res.consistent, r.source)
        for r, res in zip(labelled, results, strict=True)
    ]
    return items + [Scored(r.label, None, None, None, None) for r in records if r.label not in ("A", "B")]


@dataclass
class DatasetReport:
    """A model's stored verdicts on a dataset, against the source's labels and people's labels."""

    model: str
    against_reference: Evaluation
    against_reviews: Evaluation
    confusion: dict[str, dict[str, int]]  # reference label -> model label -> pairs
    people_model_agreement: float | None  # share of reviewed (A/B) pairs where the model agrees
    agreement_n: int


def dataset_report(session: Any, dataset_id: int, model: str) -> DatasetReport:
    """Figures from the latest stored judgment of `model` (any protocol) on each pair."""
    from sqlalchemy import select

    from storage.models import Judgment, Pair, Review

    rows = session.execute(
        select(Pair.id, Pair.reference_label, Pair.source, Judgment, Review.label)
        .join(Judgment, Judgment.pair_id == Pair.id)
        .outerjoin(Review, Review.pair_id == Pair.id)
        .where(Pair.dataset_id == dataset_id, Judgment.model == model)
        .order_by(Judgment.id)
    ).all()
    latest = {pair_id: (reference, source, judgment, reviewed) for pair_id, reference, source, judgment, reviewed in rows}
    by_reference, by_review, confusion = [], [], defaultdict(lambda: defaultdict(int))
    agree = []
    for reference, source, j, reviewed in latest.values():
        by_reference.append(Scored(reference, j.label, j.confidence, j.prob_a, j.consistent, source))
        confusion[reference or "none"][j.label or "none"] += 1
        if reviewed is not None:
            by_review.append(Scored(reviewed, j.label, j.confidence, j.prob_a, j.consistent, source))
            if reviewed in ("A", "B"):
                agree.append(reviewed == j.label)
    return DatasetReport(
        model=model,
        against_reference=evaluate(by_reference),
        against_reviews=evaluate(by_review),
        confusion={k: dict(v) for k, v in confusion.items()},
        people_model_agreement=sum(agree) / len(agree) if agree else None,
        agreement_n=len(agree),
    )
