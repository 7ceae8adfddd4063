"""The instant judge: a judge head refitted from a dataset's reviews every few labels, in under a second.

It learns from the features the fast path keeps (core/head/features.py), so refitting runs no
model: a logistic fit on the reviewed pairs (core/head/classifier.py), then every other pair with
features is scored and the scores stored (`instant_scores`), which the queue sorts by ("least sure
first": active learning) and the Review page shows.

How it is measured, honestly: when a person first labels a pair, the instant judge's score for it
(from a head that never trained on that pair: scored pairs are exactly the ones left out of the
fit) is kept with the review (`reviews.instant_prob_a`). Each review is then a held-out test made
before the head saw the answer: prequential evaluation, as in online learning. Pairs that arrived
with a reference label and nobody reviewed are a second test set.

Made a model version (`keep_instant`), the head is one like any other: activated, rolled back,
used by `gram judge --fast` and `gram evaluate`, exported.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, distinct, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.data.datasets import get_dataset
from core.data.identity import content_key
from core.errors import GramError
from core.head.classifier import Head, fit_head
from core.head.features import FeatureSource, dataset_features, dataset_recipe, kept_features
from core.model.spec import ModelSpec
from core.model.versions import create_version, version_for
from core.review.consensus import dataset_finals
from core.settings import Settings
from core.stats.intervals import MIN_VERDICT_PAIRS, wilson_interval
from core.vocab import DECISIVE, verdict_for
from storage.database import Database
from storage.tables import InstantScore, Judgment, Pair, Review, utcnow

MIN_REVIEWS = 4  # reviewed pairs (both labels among them) before the first head
REFIT_EVERY = 4  # new reviews between two refits
RECENT = 10  # the "lately" window of the live figure


@dataclass(frozen=True)
class InstantFit:
    """What one refit did."""

    dataset: str
    trained_on: int  # reviewed pairs (A or B, with features) the head learnt from
    scored: int  # pairs it scored: every other pair of the dataset with features
    reviews_without_features: int  # reviewed pairs it could not use: the fast path has not read them
    fit_s: float | None
    reason: str | None = None  # why there is no head, when there is none


def _training_set(
    session: Session, dataset_id: int, version_id: int
) -> tuple[str | None, list[int], list[str], Any, int]:
    """(recipe, reviewed pair ids with features, their labels, their features, reviewed pairs lacking features)."""
    recipe = dataset_recipe(session, dataset_id, version_id)
    if recipe is None:  # (nothing to fit: count the reviewed pairs without reading every review)
        reviewed_pairs = (
            select(func.count(distinct(Review.pair_id)))
            .join(Pair, Pair.id == Review.pair_id)
            .where(Pair.dataset_id == dataset_id, Review.label.in_(DECISIVE))
        )
        return None, [], [], None, session.scalar(reviewed_pairs) or 0
    finals = dataset_finals(session, dataset_id).values()  # the team's labels (core/review/consensus.py)
    reviewed = {f.pair_id: str(f.label) for f in finals if f.label in DECISIVE}
    ids, features = kept_features(session, version_id, recipe, reviewed)
    return recipe, ids, [reviewed[i] for i in ids], features, len(reviewed) - len(ids)


def _fit(session: Session, dataset_id: int, version_id: int) -> tuple[Head | None, str | None, list[int], str, int]:
    """(head or None, recipe, the pair ids it trained on, why no head, reviews without features)."""
    recipe, ids, labels, features, missing = _training_set(session, dataset_id, version_id)
    if recipe is None:
        return None, None, [], "no pair of this dataset has features yet: judge it with the fast path", missing
    if len(ids) < MIN_REVIEWS or len(set(labels)) < 2:
        why = f"{len(ids)} reviewed pairs with features; the instant judge starts at {MIN_REVIEWS}, with both A and B"
        return None, recipe, ids, why, missing
    return fit_head(features, labels, *FeatureSource.reads_of(recipe)), recipe, ids, "", missing


def refit(db: Database, dataset: str, version_id: int) -> InstantFit:
    """Fit the instant judge on the dataset's reviews and store its score for every other pair with
    features (scores of pairs it trained on are removed: a kept score is always a held-out one).
    Of two refits at once (two studio processes on one PostgreSQL), one writes and the other is told so."""
    try:
        return _refit(db, dataset, version_id)
    except IntegrityError:
        return InstantFit(dataset, 0, 0, 0, None, "another refit of this dataset wrote its scores at the same moment")


def _refit(db: Database, dataset: str, version_id: int) -> InstantFit:
    with db.session() as session:
        dataset_id = get_dataset(session, dataset).id
        started = time.perf_counter()
        head, recipe, trained, reason, missing = _fit(session, dataset_id, version_id)
        fit_s = time.perf_counter() - started
        if head is None or recipe is None:
            return InstantFit(dataset, 0, 0, missing, None, reason)
        taken, scores = set(trained), dict[int, float]()
        for ids, features in dataset_features(session, version_id, recipe, dataset_id):
            keep = [k for k, pair_id in enumerate(ids) if pair_id not in taken]
            if keep:
                scores.update(zip([ids[k] for k in keep], head.prob_a(features[keep]).tolist(), strict=True))
        now = utcnow()
        session.execute(delete(InstantScore).where(InstantScore.dataset_id == dataset_id))
        rows = [
            {
                "pair_id": pair_id,
                "dataset_id": dataset_id,
                "prob_a": p,
                "margin": abs(p - 0.5),
                "trained_on": len(trained),
                "updated_at": now,
            }
            for pair_id, p in scores.items()
        ]
        if rows:
            session.execute(insert(InstantScore), rows)
    return InstantFit(dataset, len(trained), len(rows), missing, fit_s)


def refit_due(session: Session, dataset_id: int, every: int = REFIT_EVERY) -> bool:
    """Whether the count of pairs labelled A or B passed a multiple of `every` since the last refit
    (or the first head is due)."""
    reviewed = session.scalar(
        select(func.count())
        .select_from(Review)
        .join(Pair, Pair.id == Review.pair_id)
        .where(Pair.dataset_id == dataset_id, Review.label.in_(DECISIVE))
    )
    last = session.scalar(select(func.max(InstantScore.trained_on)).where(InstantScore.dataset_id == dataset_id))
    if last is None:
        return (reviewed or 0) >= MIN_REVIEWS
    return (reviewed or 0) // every > last // every  # at every multiple: 8, 12, ... whatever the first


def refit_if_due(db: Database, dataset: str, version_id: int, every: int = REFIT_EVERY) -> InstantFit | None:
    with db.session() as session:
        due = refit_due(session, get_dataset(session, dataset).id, every)
    return refit(db, dataset, version_id) if due else None


@dataclass(frozen=True)
class Agreement:
    agreed: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.n if self.n else None

    def shown(self) -> str:
        if not self.n:
            return "none yet"
        ci = wilson_interval(self.agreed, self.n)
        assert ci is not None
        text = f"{self.agreed} of {self.n} ({self.agreed / self.n:.0%}, 95% CI {ci[0]:.0%}–{ci[1]:.0%})"
        return (
            text if self.n >= MIN_VERDICT_PAIRS else f"{text}: too few to tell yet (a figure needs {MIN_VERDICT_PAIRS})"
        )


def _agrees(prob_a: float | None, label: str | None) -> bool:
    """An undecided verdict (exactly 0.5) agrees with nobody."""
    return prob_a is not None and verdict_for(prob_a) == label


@dataclass(frozen=True)
class LiveFigures:
    """How often the instant judge agreed with a person on pairs it had not trained on."""

    reviewer: str
    instant: Agreement  # on every review it predicted before the person labelled the pair
    recent: Agreement  # the same, on the last RECENT of them
    shown_model: Agreement  # the verdict the person was shown, on the same pairs
    reference: Agreement  # its scores against reference labels of pairs nobody reviewed
    trained_on: int | None  # reviews the current head learnt from (None: no head yet)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self, shown_name: Callable[[str], str] = str) -> str:
        """The figures as Markdown; `shown_name` escapes the reviewer's name for where it is shown."""
        if self.trained_on is None and not self.instant.n:
            return (
                f"**Instant judge:** not trained yet: it starts after {MIN_REVIEWS} reviews (A and B) "
                "of pairs the fast path has read."
            )
        who = f"with **{shown_name(self.reviewer)}**" if self.reviewer else "with the reviews"
        lines = [
            f"**Instant judge** (a head on the model's features, refitted every {REFIT_EVERY} reviews; "
            f"now trained on {self.trained_on or 0}): before seeing each answer it agreed {who} on "
            f"{self.instant.shown()}; on the last {RECENT}: {self.recent.shown().split(':')[0]}.",
            f"The model you were shown, on the same pairs: {self.shown_model.shown().split(':')[0]}.",
        ]
        if self.reference.n:
            lines.append(f"Against the reference labels of pairs nobody reviewed: {self.reference.shown()}.")
        return "  \n".join(lines)


def live_figures(session: Session, dataset: str, reviewer: str) -> LiveFigures:
    """The instant judge's figures on `reviewer`'s reviews of `dataset` (all reviewers' if empty)."""
    dataset_id = get_dataset(session, dataset).id
    query = (
        select(Review.label, Review.instant_prob_a, Judgment.label)
        .join(Pair, Pair.id == Review.pair_id)
        .outerjoin(Judgment, Judgment.id == Review.judgment_id)
        .where(Pair.dataset_id == dataset_id, Review.label.in_(DECISIVE), Review.instant_prob_a.is_not(None))
        .order_by(Review.id)
    )
    if reviewer:
        query = query.where(Review.reviewer == reviewer)
    rows = session.execute(query).all()
    hits = [_agrees(p, label) for label, p, _ in rows]
    shown = [model == label for label, _, model in rows if model is not None]
    references = session.execute(
        select(Pair.reference_label, InstantScore.prob_a)
        .join(InstantScore, InstantScore.pair_id == Pair.id)
        .where(
            Pair.dataset_id == dataset_id,
            Pair.reference_label.in_(DECISIVE),
            ~exists().where(Review.pair_id == Pair.id, Review.label.is_not(None)),
        )
    ).all()
    trained_on = session.scalar(select(func.max(InstantScore.trained_on)).where(InstantScore.dataset_id == dataset_id))
    return LiveFigures(
        reviewer,
        Agreement(sum(hits), len(hits)),
        Agreement(sum(hits[-RECENT:]), len(hits[-RECENT:])),
        Agreement(sum(shown), len(shown)),
        Agreement(sum(_agrees(p, ref) for ref, p in references), len(references)),
        trained_on,
    )


def keep_instant(db: Database, settings: Settings, dataset: str, parent: ModelSpec) -> str:
    """Fit the instant judge on every review of `dataset` and make it a model version (inactive);
    returns the version's name."""
    with db.session() as session:
        dataset_id = get_dataset(session, dataset).id
        version = version_for(session, replace(parent, head=None))
        head, _recipe, trained, reason, _missing = _fit(session, dataset_id, version.id)
        if head is None:
            raise GramError(f"no instant judge to keep for '{dataset}': {reason}")
        figures = live_figures(session, dataset, "")
        pairs = [session.get(Pair, i) for i in trained]
        keys = sorted({content_key(p.prompt, p.response_a, p.response_b) for p in pairs if p is not None})
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = settings.models_dir / "heads" / f"instant-{dataset_id}-{stamp}-{secrets.token_hex(3)}"
    head.save(folder)
    spec = ModelSpec(f"{parent.name}-instant", parent.path, parent.adapter, str(folder))
    with db.session() as session:
        made = create_version(
            session,
            spec.name,
            spec,
            parent=version_for(session, parent),
            job_id=None,
            config={"dataset": dataset, "method": "instant-head", "train_pair_ids": trained, "train_keys": keys},
            metrics={"train_pairs": len(trained), "instant": figures.as_dict()},
        )
        return made.name
