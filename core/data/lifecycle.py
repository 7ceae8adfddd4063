"""Renaming and deleting a dataset. A deletion first writes the dataset's full dump (pairs,
judgments, everyone's reviews and their history), so nothing people did is lost: `gram import`
of that file brings it all back. Neither happens while a job works on the dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.data.datasets import check_dataset_name, check_distinct, get_dataset
from core.data.exporter import export_to_folder
from core.errors import ConflictError
from core.vocab import ACTIVE
from storage.database import Database
from storage.tables import Dataset, Job, Judgment, Pair, Review, ReviewEvent


def _no_job_on(session: Session, dataset_id: int, name: str, action: str) -> None:
    active = session.scalar(
        select(func.count()).where(Job.dataset_id == dataset_id, Job.status.in_([str(s) for s in ACTIVE]))
    )
    if active:
        raise ConflictError(f"a job is working on '{name}'; cancel it or let it finish before you {action} it")


def rename_dataset(session: Session, name: str, new_name: str) -> None:
    dataset = get_dataset(session, name)
    new_name = check_dataset_name(new_name)
    if new_name == name:
        return
    if session.scalar(select(func.count()).where(Dataset.name == new_name)):
        raise ConflictError(f"a dataset named '{new_name}' exists already")
    check_distinct(session, new_name, keep_id=dataset.id)
    _no_job_on(session, dataset.id, name, "rename")
    dataset.name = new_name


@dataclass(frozen=True)
class Deleted:
    name: str
    pairs: int
    judgments: int
    reviews: int  # everyone's, with a label
    events: int  # changes in their history
    kept_in: Path  # the full dump written before the deletion

    def summary(self) -> str:
        return (
            f"Deleted '{self.name}': {self.pairs} pairs, {self.judgments} judgments, {self.reviews} reviews "
            f"({self.events} changes in their history). All of it was saved first to {self.kept_in}; "
            "`gram import` of that file brings it back."
        )


def delete_dataset(db: Database, name: str, folder: Path) -> Deleted:
    """Write the dataset's full dump into `folder`, then delete the dataset in one transaction."""
    with db.session() as session:
        dataset = get_dataset(session, name)
        _no_job_on(session, dataset.id, name, "delete")
        of_dataset = select(Pair.id).where(Pair.dataset_id == dataset.id)
        pairs = session.scalar(select(func.count()).where(Pair.dataset_id == dataset.id)) or 0
        judgments = session.scalar(select(func.count()).where(Judgment.pair_id.in_(of_dataset))) or 0
        reviews = (
            session.scalar(select(func.count()).where(Review.pair_id.in_(of_dataset), Review.label.is_not(None))) or 0
        )
        events = (
            session.scalar(
                select(func.count()).select_from(ReviewEvent).join(Review).where(Review.pair_id.in_(of_dataset))
            )
            or 0
        )
        kept_in, _ = export_to_folder(session, name, "jsonl", folder)
        session.delete(dataset)  # pairs, judgments, reviews and history go with it (ON DELETE CASCADE)
    return Deleted(name, pairs, judgments, reviews, events, kept_in)
