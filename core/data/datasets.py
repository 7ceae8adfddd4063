"""Dataset look-ups and their counts, computed by query (never stored, so never stale)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from confusable_homoglyphs import confusables
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from core.errors import ConfigError, ConflictError, NotFoundError
from core.vocab import ACTIVE
from storage.tables import Dataset, Job, Judgment, Pair, Review


@dataclass(frozen=True)
class DatasetSummary:
    id: int
    name: str
    source: str
    created_at: datetime
    pairs: int
    judged: int  # pairs with at least one judgment
    reviewed: int  # pairs whose review has a label


MAX_NAME = 200  # the column's width


def check_dataset_name(name: str) -> str:
    """`name` in its NFKC form (full-width `ｄｅｍｏ` is `demo`), if it can name a dataset: 1 to 200
    characters, no path separators, no control characters, not '.' or '..', no space at either
    end, no letters of one script posing as another's (Cyrillic `е` among Latin letters). Checked
    where a dataset is made or renamed."""
    problem = None
    name = unicodedata.normalize("NFKC", name) if isinstance(name, str) else name
    if not name or not name.strip():
        problem = "is empty"
    elif len(name) > MAX_NAME:
        problem = f"is longer than {MAX_NAME} characters"
    elif name != name.strip():
        problem = "starts or ends with a space"
    elif any(ch in name for ch in "/\\") or name in (".", ".."):
        problem = "contains a path separator or is '.' or '..'"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        problem = "contains a control, invisible or unassigned character"
    elif any(confusables.is_dangerous(word) for word in re.split(r"[\W_]+", name) if word):
        # Per word: "ünïcode-набор" is two honest words; "dеmo" with a Cyrillic е is one lie.
        problem = "mixes letters of different scripts that look alike (a look-alike of another name)"
    if problem:
        raise ConfigError(f"the dataset name {name[:60]!r} {problem}; use letters, digits, spaces and punctuation")
    return name


def skeleton(name: str) -> str:
    """What `name` looks like: its NFKC form with each letter that poses as an ASCII one replaced by
    it (Unicode's confusables). Two names with one skeleton cannot both name datasets."""
    shown = []
    for ch in unicodedata.normalize("NFKC", name):
        found = [] if ch.isascii() else confusables.is_confusable(ch, preferred_aliases=[], greedy=True)
        ascii_ = [g["c"] for item in (found if isinstance(found, list) else []) for g in item["homoglyphs"]]
        ascii_ = [c for c in ascii_ if c.isascii()]
        shown.append(ascii_[0] if ascii_ else ch)
    return "".join(shown)


def check_distinct(session: Session, name: str, keep_id: int | None = None) -> None:
    """ConflictError if another dataset's name looks like `name` (the same skeleton)."""
    look = skeleton(name)
    for other_id, other in session.execute(select(Dataset.id, Dataset.name)).all():
        if other_id != keep_id and skeleton(other) == look:
            raise ConflictError(f"the dataset name {name[:60]!r} looks like the existing dataset {other[:60]!r}")


def get_dataset(session: Session, name: str) -> Dataset:
    if isinstance(name, str):
        name = unicodedata.normalize("NFKC", name)
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        known = session.scalars(select(Dataset.name).order_by(Dataset.name)).all()
        raise NotFoundError(f"no dataset named '{name}'" + (f"; known: {', '.join(known)}" if known else ""))
    return dataset


MAX_GUIDELINES = 20_000  # characters: a page of instructions, not a document store


MAX_REVIEWS_PER_PAIR = 20


def set_reviews_per_pair(session: Session, name: str, needed: int) -> Dataset:
    """How many people should review each of the dataset's pairs (the queues' "needs you")."""
    if not 1 <= needed <= MAX_REVIEWS_PER_PAIR:
        raise ConfigError(f"reviews per pair is a whole number from 1 to {MAX_REVIEWS_PER_PAIR} (got {needed})")
    dataset = get_dataset(session, name)
    dataset.reviews_per_pair = needed
    return dataset


def set_guidelines(session: Session, name: str, text: str) -> Dataset:
    """The dataset's review guidelines (Markdown, shown beside each pair under review)."""
    if len(text) > MAX_GUIDELINES:
        raise ConfigError(f"guidelines are at most {MAX_GUIDELINES} characters (got {len(text)})")
    dataset = get_dataset(session, name)
    dataset.guidelines = text.strip()
    return dataset


def list_datasets(session: Session) -> list[DatasetSummary]:
    pairs = select(Pair.dataset_id, func.count(Pair.id).label("n")).group_by(Pair.dataset_id).subquery()
    judged = (
        select(Pair.dataset_id, func.count(distinct(Judgment.pair_id)).label("n"))
        .join(Judgment, Judgment.pair_id == Pair.id)
        .group_by(Pair.dataset_id)
        .subquery()
    )
    reviewed = (
        select(Pair.dataset_id, func.count(distinct(Review.pair_id)).label("n"))
        .join(Review, Review.pair_id == Pair.id)
        .where(Review.label.is_not(None))
        .group_by(Pair.dataset_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Dataset,
            func.coalesce(pairs.c.n, 0),
            func.coalesce(judged.c.n, 0),
            func.coalesce(reviewed.c.n, 0),
        )
        .outerjoin(pairs, pairs.c.dataset_id == Dataset.id)
        .outerjoin(judged, judged.c.dataset_id == Dataset.id)
        .outerjoin(reviewed, reviewed.c.dataset_id == Dataset.id)
        .order_by(Dataset.id)
    ).all()
    return [
        DatasetSummary(d.id, d.name, d.source, d.created_at, n_pairs, n_judged, n_reviewed)
        for d, n_pairs, n_judged, n_reviewed in rows
    ]


def no_job_on(session: Session, dataset_id: int, name: str, action: str) -> None:
    """ConflictError if a job works on the dataset: it is not renamed or deleted under a job."""
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
    no_job_on(session, dataset.id, name, "rename")
    dataset.name = new_name
