"""Bulk actions over a reviewer's current queue filter: tag every pair it lists, or take the
pairs' reference labels as the person's own reviews (data that arrives labelled can then train
an adaptation without being clicked through).

Each pair gets an ordinary edit of the person's own review (so its history says what happened
and who did it), all in one transaction: a failure half-way changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.errors import GramError
from core.review.queue import QueueFilter, filtered_ids
from core.review.reviews import find_review, save_review
from core.vocab import LABELS
from storage.database import Database
from storage.tables import Pair

MAX_BULK = 10_000  # pairs one action may change; narrow the filter for more


@dataclass(frozen=True)
class BulkResult:
    changed: int
    unchanged: int  # already so, or (accepting) nothing to accept: no reference label, or labelled already

    def summary(self, what: str) -> str:
        return f"{what}: {self.changed} pairs changed, {self.unchanged} left as they were."


def _listed(db: Database, f: QueueFilter) -> list[int]:
    with db.session() as session:
        ids = filtered_ids(session, f, MAX_BULK + 1)
    if len(ids) > MAX_BULK:
        raise GramError(f"the filter lists more than {MAX_BULK} pairs; narrow it (status, tag, search) first")
    return ids


def tag_all(db: Database, f: QueueFilter, reviewer: str, tag: str) -> BulkResult:
    """Add `tag` to the person's own review of every pair the filter lists."""
    tag = tag.strip()
    if not tag or "," in tag:
        raise GramError("give one tag (no commas)")
    changed = unchanged = 0
    ids = _listed(db, f)
    with db.session() as session:
        for pair_id in ids:
            review = find_review(session, pair_id, reviewer)
            tags = list(review.tags) if review else []
            if tag in tags:
                unchanged += 1
                continue
            save_review(session, pair_id, reviewer=reviewer, tags=[*tags, tag])
            changed += 1
    return BulkResult(changed, unchanged)


def accept_reference_labels(db: Database, f: QueueFilter, reviewer: str) -> BulkResult:
    """Make each listed pair's reference label (A, B or tie) the person's own label, where they
    have not labelled the pair themselves."""
    changed = unchanged = 0
    ids = _listed(db, f)
    with db.session() as session:
        references = dict(session.execute(select(Pair.id, Pair.reference_label).where(Pair.id.in_(ids))).all())
        for pair_id in ids:
            reference = references.get(pair_id)
            review = find_review(session, pair_id, reviewer)
            if reference not in LABELS or (review is not None and review.label is not None):
                unchanged += 1
                continue
            save_review(session, pair_id, reviewer=reviewer, label=reference)
            changed += 1
    return BulkResult(changed, unchanged)
