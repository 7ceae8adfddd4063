"""How well a dataset's reviewers agree: with each other, with the team's consensus, with the model.

- Between two people: Cohen's kappa on the pairs both labelled (chance-corrected agreement).
- Across everyone: Krippendorff's alpha (nominal), which takes any number of people and pairs
  that only some of them labelled (the `krippendorff` package computes it).
- Each person against the others' consensus (a lead's final label where there is one, else the
  label most of the other people chose) and against the model's latest verdict: k of n agreed.
Labels compared are A, B and tie; a skip says the pair could not be judged, so it is left out.
Every figure carries its n and a 95% interval: a percentile bootstrap over pairs for kappa and
alpha, Wilson's interval for k of n. Under MIN_VERDICT_PAIRS pairs the studio says it is too few to tell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import krippendorff
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.datasets import get_dataset
from core.data.judgments import latest_judgment_id
from core.stats.intervals import MIN_VERDICT_PAIRS, wilson_interval
from core.vocab import DECISIVE, LABELS
from storage.tables import Judgment, Pair, Review

RESAMPLES = 1000
CATEGORY: dict[str, int] = {str(label): index for index, label in enumerate(LABELS)}  # A, B, tie


@dataclass(frozen=True)
class Figure:
    """An agreement statistic (kappa or alpha) with its 95% bootstrap interval over n pairs."""

    value: float | None  # None: undefined (e.g. everyone gave one label to every pair)
    n: int
    low: float | None = None
    high: float | None = None

    def shown(self) -> str:
        if self.value is None:
            return f"undefined (n = {self.n})"
        interval = f", 95% CI {self.low:.2f} to {self.high:.2f}" if self.low is not None else ""
        few = " — too few pairs to tell" if self.n < MIN_VERDICT_PAIRS else ""
        return f"{self.value:.2f} (n = {self.n}{interval}){few}"


@dataclass(frozen=True)
class Rate:
    """k of n agreed, with Wilson's 95% interval."""

    agreed: int
    n: int

    def shown(self) -> str:
        if not self.n:
            return "no pairs to compare"
        low, high = wilson_interval(self.agreed, self.n) or (0.0, 1.0)
        few = " — too few pairs to tell" if self.n < MIN_VERDICT_PAIRS else ""
        return f"{self.agreed} of {self.n} ({self.agreed / self.n:.0%}, 95% CI {low:.0%} to {high:.0%}){few}"


@dataclass(frozen=True)
class PersonAgreement:
    reviewer: str
    labelled: int  # pairs they gave A, B or tie
    with_others: Rate  # against the others' consensus (or the lead's final label)
    with_model: Rate  # against the model's latest verdict (A or B)


@dataclass(frozen=True)
class Disagreement:
    pair_id: int
    labels: dict[str, str]  # reviewer -> label (skips included: they are a choice too)
    final: str | None  # the lead's final label, if set


@dataclass(frozen=True)
class TeamAgreement:
    dataset: str
    reviewers: list[str]
    kappas: list[tuple[str, str, Figure]]  # Cohen's kappa for each two people who share pairs
    alpha: Figure  # Krippendorff's alpha over everyone, on pairs two or more people labelled
    people: list[PersonAgreement]
    disagreements: list[Disagreement] = field(default_factory=list)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two people's labels on the same pairs: (p_o - p_e) / (1 - p_e), where p_e
    is the agreement expected from each one's label frequencies. None when p_e is 1."""
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[label] * counts_b[label] for label in counts_a) / n**2
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def nominal_alpha(matrix: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) of a people x pairs matrix of category codes, NaN where a
    person did not label the pair. None when it is undefined (a single label in all the data)."""
    if matrix.shape[1] == 0 or len(np.unique(matrix[~np.isnan(matrix)])) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def _bootstrap(n: int, statistic: Callable[[np.ndarray], float | None], seed: int = 0) -> tuple[float, float] | None:
    """The 2.5 and 97.5 percentiles of `statistic` over pairs resampled with replacement."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n)) for _ in range(RESAMPLES)]
    kept = np.array([v for v in values if v is not None and not np.isnan(v)])
    if len(kept) < RESAMPLES // 2:
        return None
    return float(np.percentile(kept, 2.5)), float(np.percentile(kept, 97.5))


def _kappa(first: list[str], second: list[str]) -> Figure:
    value = cohen_kappa(first, second)
    a, b = np.array(first), np.array(second)
    interval = _bootstrap(len(first), lambda i: cohen_kappa(list(a[i]), list(b[i]))) if value is not None else None
    return Figure(value, len(first), *(interval or (None, None)))


def _alpha(matrix: np.ndarray) -> Figure:
    value = nominal_alpha(matrix)
    n = matrix.shape[1]
    interval = _bootstrap(n, lambda i: nominal_alpha(matrix[:, i])) if value is not None else None
    return Figure(value, n, *(interval or (None, None)))


def _consensus(labels: list[str]) -> str | None:
    """The label most of these people chose; None on a tie at the top or no labels."""
    ranked = Counter(labels).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _without(labels: dict[str, str], reviewer: str) -> list[str]:
    return [label for who, label in labels.items() if who != reviewer]


def _model_labels(session: Session, dataset_id: int) -> dict[int, str]:
    """The latest judgment's label of each judged pair of the dataset."""
    rows = session.execute(
        select(Pair.id, Judgment.label)
        .join(Judgment, Judgment.id == latest_judgment_id())
        .where(Pair.dataset_id == dataset_id, Judgment.label.is_not(None))
    )
    return {pair_id: str(label) for pair_id, label in rows}


def team_agreement(session: Session, dataset: str) -> TeamAgreement:
    """The dataset's agreement figures and its disagreements (pairs whose people chose differently)."""
    dataset_id = get_dataset(session, dataset).id
    people: dict[int, dict[str, str]] = {}  # pair -> reviewer -> label (skips too)
    finals: dict[int, str] = {}
    rows = session.execute(
        select(Review.pair_id, Review.reviewer, Review.label, Review.final)
        .join(Pair, Pair.id == Review.pair_id)
        .where(Pair.dataset_id == dataset_id, Review.label.is_not(None))
        .order_by(Review.pair_id, Review.id)
    )
    for pair_id, reviewer, label, final in rows:
        if final:
            finals[pair_id] = str(label)
        else:
            people.setdefault(pair_id, {})[reviewer] = str(label)
    model = _model_labels(session, dataset_id)
    labelled = {p: {who: lab for who, lab in by.items() if lab in CATEGORY} for p, by in people.items()}
    reviewers = sorted({who for by in labelled.values() for who in by})
    kappas = []
    for a, b in combinations(reviewers, 2):
        shared = [by for by in labelled.values() if a in by and b in by]
        if shared:
            kappas.append((a, b, _kappa([by[a] for by in shared], [by[b] for by in shared])))
    units = [by for by in labelled.values() if len(by) >= 2]
    matrix = np.full((len(reviewers), len(units)), np.nan)
    for column, by in enumerate(units):
        for row, who in enumerate(reviewers):
            if who in by:
                matrix[row, column] = CATEGORY[by[who]]
    persons = []
    for who in reviewers:
        own = {p: by[who] for p, by in labelled.items() if who in by}
        # The others' verdict: the lead's final label, else what most of the others chose.
        others = {p: finals[p] if finals.get(p) in CATEGORY else _consensus(_without(labelled[p], who)) for p in own}
        versus = [own[p] == others[p] for p in own if others[p] is not None]
        versus_model = [own[p] == model[p] for p in own if p in model and own[p] in DECISIVE]
        persons.append(
            PersonAgreement(who, len(own), Rate(sum(versus), len(versus)), Rate(sum(versus_model), len(versus_model)))
        )
    disagreements = [
        Disagreement(p, dict(by), finals.get(p)) for p, by in sorted(people.items()) if len(set(by.values())) > 1
    ]
    return TeamAgreement(dataset, reviewers, kappas, _alpha(matrix), persons, disagreements)
