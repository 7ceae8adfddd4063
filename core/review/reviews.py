"""A person's review of a pair: set, undo, redo, with an append-only event history.

The review row holds the current state; each change appends a ReviewEvent with the state before
and after. Undo restores the `before` of the latest edit not yet undone (and is itself an event),
so the trail is complete and nothing is ever deleted. The model's judgments are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.errors import ConflictError, GramError, NotFoundError
from core.train.instant import prediction_before_review
from core.vocab import DECISIVE, REVIEW_LABELS, Label, ReviewAction
from storage.tables import Pair, Review, ReviewEvent, utcnow

STATE_FIELDS = ("label", "reason", "rationale", "tags", "note")
# A field's value in states recorded before it existed (events keep the fields of their time).
EARLIER_DEFAULTS: dict[str, Any] = {"reason": ""}


def review_state(review: Review) -> dict[str, Any]:
    return {name: getattr(review, name) for name in STATE_FIELDS}


def _load(session: Session, pair_id: int) -> Review:
    if session.get(Pair, pair_id) is None:
        raise NotFoundError(f"no pair with id {pair_id}")
    review = session.scalar(select(Review).where(Review.pair_id == pair_id))
    if review is None:
        review = Review(pair_id=pair_id, tags=[], note="", version=0)
        session.add(review)
        try:
            session.flush()
        except IntegrityError:  # someone else's first review of this pair won the race
            raise _conflict(pair_id) from None
    return review


def _conflict(pair_id: int) -> ConflictError:
    return ConflictError(f"pair {pair_id} was changed by someone else at the same moment; reload it")


def _apply(
    session: Session,
    review: Review,
    after: dict[str, Any],
    *,
    action: str,
    reviewer: str,
    target: ReviewEvent | None = None,
) -> Review:
    before, pair_id = review_state(review), review.pair_id
    with session.no_autoflush:  # one flush below, where a lost race is caught
        for name in STATE_FIELDS:
            setattr(review, name, after[name] if name in after else EARLIER_DEFAULTS[name])
        review.reviewer = reviewer
        review.version += 1
        review.updated_at = utcnow()
        session.add(
            ReviewEvent(
                review=review,
                action=action,
                before=before,
                after=after,
                reviewer=reviewer,
                target_event=target,
            )
        )
    try:
        session.flush()  # UPDATE ... WHERE version = <the one read>: zero rows if someone was faster
    except StaleDataError:
        raise _conflict(pair_id) from None  # (the failed session must not be read from)
    return review


def save_review(
    session: Session,
    pair_id: int,
    *,
    reviewer: str,
    expected_version: int | None = None,
    judgment_id: int | None = None,
    **changes: Any,
) -> Review:
    """Change some of label, reason, rationale, tags, note. `expected_version` guards concurrent
    edits. A reason goes with a skip; labelling the pair after all clears it."""
    unknown = set(changes) - set(STATE_FIELDS)
    if unknown:
        raise GramError(f"a review has no fields {sorted(unknown)}")
    if "label" in changes and changes["label"] not in (None, *REVIEW_LABELS):
        raise GramError(f"a review label is A, B, tie or skip (got {changes['label']!r})")
    review = _load(session, pair_id)
    if expected_version is not None and review.version != expected_version:
        raise ConflictError(
            f"pair {pair_id} was changed by {review.reviewer or 'someone'} meanwhile "
            f"(version {review.version}, you had {expected_version}); reload it"
        )
    if judgment_id is not None:
        review.judgment_id = judgment_id
    if changes.get("label") in DECISIVE and review.label is None and review.instant_prob_a is None:
        # The instant judge's guess, kept before it can learn the answer (core/train/instant.py).
        review.instant_prob_a = prediction_before_review(session, pair_id)
    after = {**review_state(review), **changes}
    if after["label"] != Label.SKIP and after["reason"]:
        if "reason" in changes:
            raise GramError("a reason goes with a skip (a pair that cannot be judged)")
        after["reason"] = ""  # labelled after all: the skip's reason no longer holds
    if after == review_state(review):
        return review
    return _apply(session, review, after, action=ReviewAction.EDIT, reviewer=reviewer)


def _stacks(review: Review) -> tuple[list[ReviewEvent], list[ReviewEvent]]:
    """(edits that are in effect, edits undone and redoable), replaying the event log."""
    done: list[ReviewEvent] = []
    undone: list[ReviewEvent] = []
    for event in review.events:
        if event.action in (ReviewAction.EDIT, ReviewAction.IMPORT):
            done.append(event)
            undone.clear()
        elif event.action == ReviewAction.UNDO and done:
            undone.append(done.pop())
        elif event.action == ReviewAction.REDO and undone:
            done.append(undone.pop())
    return done, undone


def undo(session: Session, pair_id: int, *, reviewer: str, expected_version: int | None = None) -> Review:
    """Revert `reviewer`'s latest edit on this pair, if it is still the latest in effect."""
    return _step(session, pair_id, reviewer, expected_version, ReviewAction.UNDO)


def redo(session: Session, pair_id: int, *, reviewer: str, expected_version: int | None = None) -> Review:
    """Re-apply `reviewer`'s latest undone edit on this pair, if nothing happened since."""
    return _step(session, pair_id, reviewer, expected_version, ReviewAction.REDO)


def _step(session: Session, pair_id: int, reviewer: str, expected_version: int | None, action: ReviewAction) -> Review:
    """Undo or redo. A person steps back and forth through their own changes only: when someone
    else's change came after (or the pair is not at the version the person saw), it is a conflict,
    so one reviewer's `z` never reverts a colleague's work."""
    review = _load(session, pair_id)
    done, undone = _stacks(review)
    stack = done if action == ReviewAction.UNDO else undone
    if not stack:
        raise GramError(f"nothing to {action} on pair {pair_id}")
    target = stack[-1]
    if target.reviewer != reviewer or (expected_version is not None and review.version != expected_version):
        raise ConflictError(
            f"pair {pair_id} was changed by {review.reviewer or 'someone'} after your change; "
            f"{action} would revert theirs, so it was not done"
        )
    state = target.before if action == ReviewAction.UNDO else target.after
    return _apply(session, review, dict(state), action=action, reviewer=reviewer, target=target)


@dataclass(frozen=True)
class ReviewNow:
    """A pair's review as it is in the store now (version 0: never reviewed)."""

    version: int
    reviewer: str
    label: str | None


def review_now(session: Session, pair_id: int) -> ReviewNow:
    row = session.execute(
        select(Review.version, Review.reviewer, Review.label).where(Review.pair_id == pair_id)
    ).first()
    return ReviewNow(*row) if row else ReviewNow(0, "", None)


def review_version(session: Session, pair_id: int) -> int:
    """The pair's review version now (0 before its first review)."""
    return session.scalar(select(Review.version).where(Review.pair_id == pair_id)) or 0


def history(session: Session, pair_id: int) -> list[ReviewEvent]:
    """Every change to the pair's review, oldest first."""
    review = session.scalar(select(Review).where(Review.pair_id == pair_id))
    return list(review.events) if review else []
