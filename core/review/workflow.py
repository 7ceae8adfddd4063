"""A reviewer's session: their place in the queue, their saves, and undo/redo of their own changes.

The studio keeps one `QueueState` and one `Cursor` per browser session (in gr.State); these
functions move them on. A save names the review version the person saw, so two people on one
pair never silently overwrite each other: the second is told and shown the first's review.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import ConflictError
from core.review.queue import QueueFilter, QueueRow, queue_page
from core.review.reviews import redo, review_version, save_review, undo
from storage.database import Database

PAGE_SIZE = 25


@dataclass(frozen=True)
class QueueState:
    filter: QueueFilter
    page: int
    ids: list[int]  # the page's pair ids, in queue order
    total: int = 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


@dataclass(frozen=True)
class Cursor:
    """Where this session is: the pair shown, the review version it saw, its undo stacks."""

    pair_id: int | None = None
    version: int = 0
    done: list[int] = field(default_factory=list)  # pairs this session changed, latest last
    undone: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Saved:
    cursor: Cursor
    message: str
    conflict: bool = False  # someone else changed the pair first; nothing was saved


def open_queue(db: Database, f: QueueFilter, page: int) -> tuple[QueueState, list[QueueRow]]:
    with db.session() as session:
        rows, total = queue_page(session, f, max(page, 0), PAGE_SIZE)
    return QueueState(f, max(page, 0), [r.pair_id for r in rows], total), rows


def neighbour(db: Database, queue: QueueState, pair_id: int | None, step: int) -> tuple[QueueState, int | None]:
    """The pair `step` places from `pair_id` in the queue, turning the page when needed."""
    if not queue.ids:
        return queue, None
    index = queue.ids.index(pair_id) + step if pair_id in queue.ids else 0
    if 0 <= index < len(queue.ids):
        return queue, queue.ids[index]
    page = queue.page + (1 if index >= len(queue.ids) else -1)
    if page < 0 or page * PAGE_SIZE >= queue.total:
        return queue, pair_id
    turned, _ = open_queue(db, queue.filter, page)
    return turned, (turned.ids[0] if step > 0 else turned.ids[-1]) if turned.ids else pair_id


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
        with db.session() as session:  # the cursor moves to what is there now, so a deliberate retry saves
            current = review_version(session, cursor.pair_id)
        return Saved(
            replace(cursor, version=current), f"⚠ {conflict} — shown now; your change was not saved.", conflict=True
        )
    done = [*cursor.done, cursor.pair_id] if version != cursor.version else cursor.done
    return Saved(replace(cursor, version=version, done=done, undone=[]), f"Saved pair {cursor.pair_id}.")


def undo_last(db: Database, cursor: Cursor, reviewer: str) -> Saved:
    """Undo this session's latest change."""
    if not cursor.done:
        return Saved(cursor, "Nothing to undo.")
    pair_id = cursor.done[-1]
    with db.session() as session:
        version = undo(session, pair_id, reviewer=reviewer).version
    return Saved(
        Cursor(pair_id, version, cursor.done[:-1], [*cursor.undone, pair_id]),
        f"Undid the last change on pair {pair_id}.",
    )


def redo_last(db: Database, cursor: Cursor, reviewer: str) -> Saved:
    """Redo this session's latest undone change."""
    if not cursor.undone:
        return Saved(cursor, "Nothing to redo.")
    pair_id = cursor.undone[-1]
    with db.session() as session:
        version = redo(session, pair_id, reviewer=reviewer).version
    return Saved(
        Cursor(pair_id, version, [*cursor.done, pair_id], cursor.undone[:-1]), f"Redid the change on pair {pair_id}."
    )
