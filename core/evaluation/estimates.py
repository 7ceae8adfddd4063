"""Estimates people can bet on: a dataset's figures from its reviews and the judge's verdicts on
every pair, by prediction-powered inference (core/stats/ppi.py; Boyeau et al. 2024, "AutoEval Done
Right"), beside the naive figure from the reviews alone and the judge's own figure.

- the judge's accuracy (agreement with people's final labels), its confidence as the prediction;
- the share of pairs where people prefer A, the judge's P(A) as the prediction;
- each model's win rate, where the pairs name their models (`model_a`, `model_b` in the pair's meta).

Pairs the latest verdict's version (or an ancestor) trained on are left out of everything, and so
are pairs people tied or skipped; the rest are labelled (a final A or B) or not (no final label).
Like the trust threshold, it assumes the reviewed pairs are a random sample of the dataset.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.datasets import get_dataset
from core.evaluation.reviewed import number
from core.model.lineage import TrainedOn
from core.review.consensus import dataset_finals
from core.stats.intervals import MIN_VERDICT_PAIRS, wilson_interval
from core.stats.ppi import PpiMean, ppi_mean
from core.vocab import DECISIVE, Label
from storage.tables import Judgment, Pair

HALF_WIDTH = 0.05  # the planner's target: a 95% interval of ±5 points
MOST_MODELS = 10  # win rates for the models named on the most pairs


@dataclass(frozen=True)
class Estimate:
    quantity: str
    n_reviewed: int
    naive: float | None  # the reviewed pairs alone
    naive_ci: tuple[float, float] | None  # Wilson 95%
    judge_alone: float | None  # the judge's own prediction, averaged over every pair: biased as it is
    ppi: PpiMean | None
    more_reviews: int | None  # about how many more reviews for ±5 points; None: not within this dataset

    @property
    def too_few(self) -> bool:
        return self.n_reviewed < MIN_VERDICT_PAIRS

    def cells(self) -> dict[str, Any]:
        def interval(ci: tuple[float, float] | None) -> str:
            return f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else ""

        plan = (
            "no more needed"
            if self.more_reviews == 0
            else f"about {self.more_reviews} more"
            if self.more_reviews is not None
            else "out of reach with this dataset's pairs"
        )
        return {
            "quantity": self.quantity,
            "reviewed pairs": self.n_reviewed,
            "from reviews alone (95% CI)": ""
            if self.naive is None
            else f"{self.naive:.3f} ({interval(self.naive_ci)})",
            "the judge's own figure": "" if self.judge_alone is None else f"{self.judge_alone:.3f}",
            "prediction-powered (95% CI)": ""
            if self.ppi is None
            else f"{self.ppi.estimate:.3f} ({interval(self.ppi.interval)})",
            "for ±5 points": plan if self.ppi is not None else "",
            "note": f"too few reviews to tell (under {MIN_VERDICT_PAIRS})" if self.too_few else "",
        }


@dataclass(frozen=True)
class DatasetEstimates:
    dataset: str
    labelled: int
    unlabelled: int
    trained_excluded: int
    tied_or_skipped: int
    unjudged: int
    rows: list[Estimate] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "rows"}
        out["estimates"] = [
            {
                "quantity": r.quantity,
                "n_reviewed": r.n_reviewed,
                "naive": r.naive,
                "naive_ci": r.naive_ci,
                "judge_alone": r.judge_alone,
                "ppi": None if r.ppi is None else r.ppi.estimate,
                "ppi_ci": None if r.ppi is None else r.ppi.interval,
                "more_reviews_for_5_points": r.more_reviews,
            }
            for r in self.rows
        ]
        return out

    def lines(self) -> list[str]:
        out = [
            f"{self.dataset}: {self.labelled} reviewed pairs (A or B), {self.unlabelled} judged but not reviewed; "
            f"left out: {self.trained_excluded} the judge trained on, {self.tied_or_skipped} tied or skipped, "
            f"{self.unjudged} not judged"
        ]
        for row in self.rows:
            cells = list(row.cells().items())[1:]  # after the quantity itself
            out.append(f"{row.quantity}: " + " · ".join(f"{k} {str(v) or '-'}" for k, v in cells))
        out.append("valid when the reviewed pairs are a random sample of the dataset (not sorted by confidence)")
        return out


def _estimate(quantity: str, labelled: list[tuple[float, float]], unlabelled: list[float]) -> Estimate:
    """`labelled`: (y, the judge's f) per reviewed pair; `unlabelled`: f per pair not reviewed."""
    ys = [y for y, _ in labelled]
    right = sum(ys)
    ci = wilson_interval(round(right), len(ys))
    everyone = [f for _, f in labelled] + unlabelled
    ppi = ppi_mean(ys, [f for _, f in labelled], unlabelled)
    needed = ppi.reviews_for(HALF_WIDTH) if ppi is not None else None
    return Estimate(
        quantity,
        len(ys),
        right / len(ys) if ys else None,
        ci,
        sum(everyone) / len(everyone) if everyone else None,
        ppi,
        None if needed is None else max(0, needed - len(ys)),
    )


def dataset_estimates(session: Session, dataset: str) -> DatasetEstimates:
    """The dataset's estimates from its people's final labels and each pair's latest judgment."""
    found = get_dataset(session, dataset)
    finals = dataset_finals(session, found.id)
    rows = session.execute(
        select(Pair.id, Pair.prompt, Pair.response_a, Pair.response_b, Pair.meta, Judgment)
        .outerjoin(Judgment, Judgment.id == Pair.latest_judgment_id)
        .where(Pair.dataset_id == found.id)
        .execution_options(yield_per=2000)
    )
    trained_on = TrainedOn(session)
    accuracy: tuple[list[tuple[float, float]], list[float]] = ([], [])
    share: tuple[list[tuple[float, float]], list[float]] = ([], [])
    wins: dict[str, tuple[list[tuple[float, float]], list[float]]] = defaultdict(lambda: ([], []))
    named: Counter[str] = Counter()
    counts = Counter[str]()
    for pair_id, prompt, a, b, meta, judgment in rows:
        if judgment is None:
            counts["unjudged"] += 1
            continue
        if trained_on(judgment.model_version_id, prompt, a, b):
            counts["trained"] += 1
            continue
        final = finals[pair_id].label if pair_id in finals else None
        if final in (Label.TIE, Label.SKIP):
            counts["tied"] += 1
            continue
        prob_a = number(judgment.prob_a, {"A": 1.0, "B": 0.0}.get(str(judgment.label), 0.5))
        confidence = number(judgment.confidence, 0.5)
        models = meta if isinstance(meta, dict) else {}
        sides = [(str(models[k]), k == "model_a") for k in ("model_a", "model_b") if isinstance(models.get(k), str)]
        if len({model for model, _ in sides}) < len(sides):
            sides = []  # a model against itself wins nothing
        if final in DECISIVE:
            accuracy[0].append((float(judgment.label == final), confidence))
            share[0].append((float(final == Label.A), prob_a))
            for model, is_a in sides:
                wins[model][0].append((float((final == Label.A) == is_a), prob_a if is_a else 1 - prob_a))
        else:
            accuracy[1].append(confidence)
            share[1].append(prob_a)
            for model, is_a in sides:
                wins[model][1].append(prob_a if is_a else 1 - prob_a)
        named.update(model for model, _ in sides)
    estimates = [
        _estimate("the judge's accuracy (agreement with people)", *accuracy),
        _estimate("share of pairs where A is preferred", *share),
    ]
    for model, _ in named.most_common(MOST_MODELS):
        estimates.append(_estimate(f"win rate of {model}", *wins[model]))
    return DatasetEstimates(
        found.name,
        len(accuracy[0]),
        len(accuracy[1]),
        counts["trained"],
        counts["tied"],
        counts["unjudged"],
        estimates,
    )
