"""The train/held-out split of a training job: drawn on content, guarded against ancestors, frozen.

A reviewed pair belongs to the held-out split when a hash of its content (prompt and the two
responses, in either order) falls under the hold-out fraction, so the split never moves as more
pairs are reviewed and duplicates land on one side. Two guards make the held-out figures honest:
- no pair that the parent version or any of its ancestors trained on (by content, either order)
  is measured: it is left out of the held-out split and counted (`left_out`);
- a job freezes its split when it starts (`freeze_split`): the pair ids and their reviewed labels.
  A resumed job measures the same pairs against the same labels even if people reviewed more
  or changed a label meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.data.datasets import get_dataset
from core.data.identity import content_key
from core.errors import GramError
from core.judge.rationale_checks import target_rationale
from core.model.lineage import trained_keys
from core.review.consensus import FinalLabel, final_labels, reviewed_finals
from core.text.pair import PairText
from core.vocab import DECISIVE, Label
from storage.database import Database
from storage.tables import Job, Pair


def is_held_out(key: str, fraction: float) -> bool:
    return int(key[:8], 16) / 2**32 < fraction


@dataclass(frozen=True)
class LabelledPair:
    """A stored pair with the label to learn or measure it by: a person's (reviewed pairs, the
    held-out split) or a kept pseudo-label (self-training); the one record training reads."""

    pair_id: int
    text: PairText
    label: str  # A or B
    rationale: str | None = None  # the person's, the accepted judgment's, or a proof; None: none written
    key: str = ""  # the content key the held-out split hashes ("" where no split is drawn)
    source: str = ""


@dataclass(frozen=True)
class AdaptPlan:
    train: list[LabelledPair]
    held_out: list[LabelledPair]
    left_out: int = 0  # held out by hash, but an ancestor trained on them: not measured

    @property
    def need_proof(self) -> int:
        return sum(1 for p in self.train if p.rationale is None)

    def frozen(self) -> dict[str, Any]:
        """What a job keeps of its split: pair ids with their reviewed labels."""
        return {
            "train": [[p.pair_id, p.label] for p in self.train],
            "held_out": [[p.pair_id, p.label] for p in self.held_out],
            "left_out": self.left_out,
        }

    def keys(self) -> dict[str, Any]:
        """What a trained version records: what it trained on and what measured it."""
        return {
            "train_pair_ids": [p.pair_id for p in self.train],
            "train_keys": sorted({p.key for p in self.train}),
            "held_out_pair_ids": [p.pair_id for p in self.held_out],
        }


def _reviewed(pair: Pair, final: FinalLabel, label: str) -> LabelledPair:
    """The pair with `label` and the rationale written (or accepted) for it, if the final label is still `label`."""
    rationale, problems = target_rationale(final, pair) if final.label == label else (None, [])
    if problems:
        rationale = None  # a degenerate model rationale is no target: the pair is proved or trains label-only
    return LabelledPair(
        pair.id,
        PairText.of(pair),
        Label(label),
        rationale or None,
        content_key(pair.prompt, pair.response_a, pair.response_b),
        pair.source,
    )


def reviewed_pairs(session: Session, dataset_id: int) -> list[LabelledPair]:
    """The dataset's pairs whose final label (core/review/consensus.py) is A or B, in id order."""
    return [
        _reviewed(pair, final, str(final.label))
        for pair, final in reviewed_finals(session, dataset_id)
        if final.label in DECISIVE
    ]


def _pairs(session: Session, ids: Iterable[int]) -> list[Pair]:
    ids = list(ids)
    chunks = (ids[start : start + 500] for start in range(0, len(ids), 500))
    query = select(Pair).options(selectinload(Pair.judgments))
    return [pair for chunk in chunks for pair in session.scalars(query.where(Pair.id.in_(chunk)))]


def plan_adaptation(
    session: Session, dataset: str, holdout_fraction: float, parent_version_id: int | None = None
) -> AdaptPlan:
    """Today's split of the dataset's reviewed pairs, for training version `parent_version_id`."""
    reviewed = reviewed_pairs(session, get_dataset(session, dataset).id)
    trained = trained_keys(session, parent_version_id)
    by_hash = [p for p in reviewed if is_held_out(p.key, holdout_fraction)]
    held = [p for p in by_hash if p.key not in trained]
    held_keys = {p.key for p in by_hash}
    plan = AdaptPlan([p for p in reviewed if p.key not in held_keys], held, len(by_hash) - len(held))
    assert_no_leak(plan.train, plan.held_out)
    return plan


def assert_no_leak(train_pairs: Sequence[LabelledPair], held_out: Sequence[LabelledPair]) -> None:
    """The leakage guard: no held-out pair, by id or by content, in the training set."""
    ids = {p.pair_id for p in held_out}
    keys = {p.key for p in held_out}
    leaked = [p.pair_id for p in train_pairs if p.pair_id in ids or p.key in keys]
    if leaked:
        raise GramError(f"held-out pairs would be trained on: {leaked[:10]}")


def freeze_split(db: Database, job_id: int, dataset: str, holdout_fraction: float) -> None:
    """Keep the job's split in its result when it starts; a job that has one keeps it."""
    with db.session() as session:
        job = session.get(Job, job_id)
        if job is None or "split" in (job.result or {}):
            return
        plan = plan_adaptation(session, dataset, holdout_fraction, job.config.get("parent_version"))
        job.result = {**(job.result or {}), "split": plan.frozen()}


def frozen_plan(session: Session, dataset: str, split: dict[str, Any]) -> AdaptPlan:
    """The plan a job froze: the same pairs and labels; rationales as reviewed now where the label still holds."""
    dataset_id = get_dataset(session, dataset).id
    labels = {int(i): str(label) for i, label in [*split["train"], *split["held_out"]]}
    pairs = {p.id: p for p in _pairs(session, labels) if p.dataset_id == dataset_id}
    missing = sorted(set(labels) - set(pairs))
    if missing:
        raise GramError(f"pairs {missing[:10]} of this job's frozen split were deleted; start a new job")
    finals = final_labels(session, pairs)

    def side(name: str) -> list[LabelledPair]:
        return [_reviewed(pairs[int(i)], finals[int(i)], str(label)) for i, label in split[name]]

    plan = AdaptPlan(side("train"), side("held_out"), int(split.get("left_out", 0)))
    assert_no_leak(plan.train, plan.held_out)
    return plan
