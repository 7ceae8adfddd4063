"""Deleting a dataset. A deletion first writes the dataset's full dump (pairs, judgments,
everyone's reviews and their history), so nothing people did is lost: `gram import` of that file
brings it all back. It does not happen while a job works on the dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from core.data.datasets import get_dataset, no_job_on
from core.export.rows import export_to_folder
from storage.database import Database
from storage.tables import Judgment, Pair, Review, ReviewEvent


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
        no_job_on(session, dataset.id, name, "delete")
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
