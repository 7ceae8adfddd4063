"""A reviewer's session: their place in their queue, their saves, and undo/redo of their changes.

The studio keeps one `QueueState` and one `Cursor` per browser session (in gr.State); these
functions move them on. Each person saves their own review of a pair; a save names the version
of it the person saw, so the same person in two windows never silently overwrites themselves.
In a "needs you" queue, opening a pair holds it (core/review/holds.py) and moving on skips the
pairs colleagues hold, so people reviewing at once spread over the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import ConflictError
from core.review.holds import take_hold
from core.review.queue import COUNT_CAP, QueueFilter, QueueRow, matching, queue_page
from core.review.reviews import redo, review_version, save_review, undo
from storage.database import Database

PAGE_SIZE = 25


@dataclass(frozen=True)
class QueueState:
    filter: QueueFilter
    page: int
    ids: list[int]  # the page's pair ids, in queue order
    total: int = 0
    start: int | None = None  # the pair to open first (in "needs you": the first nobody else holds)
    counted: bool = True  # `total` is exact (else the filter matches more: counting stopped there)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    def size(self) -> str:
        """The filter's pairs, as a person reads it: "1,234 pairs", or "more than 10,000 pairs"."""
        return f"{self.total:,} pairs" if self.counted else f"more than {self.total:,} pairs"


@dataclass(frozen=True)
class Cursor:
    """Where this session is: the pair shown, the review version it saw, its undo stacks."""

    pair_id: int | None = None
    version: int = 0  # of this person's review of the pair
    # (pair, review version after the change) of this session's changes, latest last, and of the
    # ones it undid: an undo or redo names the version it expects, so it never reverts a colleague.
    done: list[tuple[int, int]] = field(default_factory=list)
    undone: list[tuple[int, int]] = field(default_factory=list)
    blind: bool = False  # blind review: the reference and the model hidden until the pair is labelled
    reviewer: str = ""  # who is signed in (the page sets it when it opens)
    stamp: int = 0  # everyone's reviews of the pair as shown (core.review.reviews.ReviewNow.stamp)


@dataclass(frozen=True)
class Saved:
    cursor: Cursor
    message: str
    conflict: bool = False  # someone else changed the pair first; nothing was saved

    @property
    def stored(self) -> bool:
        """The change is in the store (no conflict, and a pair was open)."""
        return not self.conflict and self.cursor.pair_id is not None


def open_queue(db: Database, f: QueueFilter, page: int) -> tuple[QueueState, list[QueueRow]]:
    with db.session() as session:
        rows, total, counted = queue_page(session, f, max(page, 0), PAGE_SIZE, count_up_to=COUNT_CAP)
    ids = [r.pair_id for r in rows]
    return QueueState(f, max(page, 0), ids, total, _hold_first(db, f, ids), counted), rows


def _hold_first(db: Database, f: QueueFilter, candidates: list[int]) -> int | None:
    """The first of the candidates to work on: in "needs you", the first this person can hold
    (all held by colleagues: the first, alongside one of them), else simply the first."""
    if f.status != "needs-you" or not candidates:
        return candidates[0] if candidates else None
    with db.session() as session:
        for pair_id in candidates:
            if take_hold(session, pair_id, f.reviewer):
                return pair_id
    return candidates[0]


def _next_needed(db: Database, queue: QueueState, pair_id: int | None) -> tuple[QueueState, int | None]:
    """The next pair that still needs this person: later on this page, else from the start of
    their queue as it is now (pairs skipped because a colleague held them come round again)."""
    later = queue.ids[queue.ids.index(pair_id) + 1 :] if pair_id in queue.ids else queue.ids
    if later:
        with db.session() as session:
            still = matching(session, queue.filter, later)
        found = _hold_first(db, queue.filter, [i for i in later if i in still])
        if found is not None:
            return queue, found
    fresh, _ = open_queue(db, queue.filter, 0)
    return (fresh, fresh.start) if fresh.start is not None else (queue, pair_id)


def neighbour(db: Database, queue: QueueState, pair_id: int | None, step: int) -> tuple[QueueState, int | None]:
    """The pair `step` places from `pair_id` in the queue, turning the page when needed; in
    "needs you", moving on goes to the next pair that still needs the person and that no
    colleague holds."""
    if not queue.ids:
        return queue, None
    if queue.filter.status == "needs-you" and step > 0:
        return _next_needed(db, queue, pair_id)
    index = queue.ids.index(pair_id) + step if pair_id in queue.ids else 0
    if 0 <= index < len(queue.ids):
        return queue, queue.ids[index]
    page = queue.page + (1 if index >= len(queue.ids) else -1)
    if page < 0 or (queue.counted and page * PAGE_SIZE >= queue.total):
        return queue, pair_id
    turned, _ = open_queue(db, queue.filter, page)
    return turned, (turned.start if step > 0 else turned.ids[-1]) if turned.ids else pair_id


def review_pair(db: Database, cursor: Cursor, reviewer: str, judgment_id: int | None, **changes: Any) -> Saved:
    """Save changes on the cursor's pair, recording which judgment the person saw."""
    if cursor.pair_id is None:
        return Saved(cursor, "Open a pair first.")
    try:
        with db.session() as session:
            review = save_review(
                session,
                cursor.pair_id,
                reviewer=reviewer,
                expected_version=cursor.version,
                judgment_id=judgment_id,
                **changes,
            )
            version = review.version
    except ConflictError as conflict:
        return _refused(db, cursor, cursor.pair_id, reviewer, f"⚠ {conflict} — shown now; your change was not saved.")
    done = [*cursor.done, (cursor.pair_id, version)] if version != cursor.version else cursor.done
    return Saved(replace(cursor, version=version, done=done, undone=[]), f"Saved pair {cursor.pair_id}.")


def _refused(db: Database, cursor: Cursor, pair_id: int, reviewer: str, message: str) -> Saved:
    """The review changed first (in another window): nothing was saved, and the cursor moves to
    the review as it is now, so a deliberate retry saves."""
    with db.session() as session:
        current = review_version(session, pair_id, reviewer)
    return Saved(replace(cursor, pair_id=pair_id, version=current), message, conflict=True)


def undo_last(db: Database, cursor: Cursor, reviewer: str) -> Saved:
    """Undo this session's latest change (refused if someone changed that pair since)."""
    return _step_last(db, cursor, reviewer, redo_it=False)


def redo_last(db: Database, cursor: Cursor, reviewer: str) -> Saved:
    """Redo this session's latest undone change (refused if someone changed that pair since)."""
    return _step_last(db, cursor, reviewer, redo_it=True)


def _step_last(db: Database, cursor: Cursor, reviewer: str, *, redo_it: bool) -> Saved:
    stack = cursor.undone if redo_it else cursor.done
    if not stack:
        return Saved(cursor, "Nothing to redo." if redo_it else "Nothing to undo.")
    pair_id, seen = stack[-1]
    step = redo if redo_it else undo
    try:
        with db.session() as session:
            version = step(session, pair_id, reviewer=reviewer, expected_version=seen).version
    except ConflictError as conflict:
        return _refused(db, cursor, pair_id, reviewer, f"⚠ {conflict}")
    if redo_it:
        moved = replace(
            cursor, pair_id=pair_id, version=version, done=[*cursor.done, (pair_id, version)], undone=cursor.undone[:-1]
        )
        return Saved(moved, f"Redid the change on pair {pair_id}.")
    moved = replace(
        cursor, pair_id=pair_id, version=version, done=cursor.done[:-1], undone=[*cursor.undone, (pair_id, version)]
    )
    return Saved(moved, f"Undid the last change on pair {pair_id}.")
