"""A person's review of a pair: set, undo, redo, with an append-only event history.

Each person has their own review of a pair (a team may review each pair several times), and a
lead may set the pair's final label where people disagree (`final=True`: one per pair, whoever
sets it). The review row holds the current state; each change appends a ReviewEvent with the
state before and after. Undo restores the `before` of the latest edit not yet undone (and is
itself an event), so the trail is complete and nothing is ever deleted. The model's judgments
are never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.data.dump import STATE_SCHEMA, check_state
from core.errors import ConflictError, GramError, NotFoundError
from core.vocab import DECISIVE, REVIEW_LABELS, Label, ReviewAction
from storage.tables import InstantScore, Pair, Review, ReviewEvent, utcnow

log = logging.getLogger(__name__)

STATE_FIELDS = tuple(STATE_SCHEMA)  # label, reason, rationale, tags, note
# A field's value in states recorded before it existed (events keep the fields of their time).
EARLIER_DEFAULTS: dict[str, Any] = {"reason": ""}


def review_state(review: Review) -> dict[str, Any]:
    return {name: getattr(review, name) for name in STATE_FIELDS}


def _which(pair_id: int, reviewer: str, final: bool) -> Any:
    """The condition that picks a person's review of the pair, or its final one."""
    mine = Review.final.is_(True) if final else (Review.final.is_(False) & (Review.reviewer == reviewer))
    return (Review.pair_id == pair_id) & mine


def find_review(session: Session, pair_id: int, reviewer: str, *, final: bool = False) -> Review | None:
    """`reviewer`'s review of the pair (or the pair's final one), if there is one."""
    return session.scalar(select(Review).where(_which(pair_id, reviewer, final)))


def _load(session: Session, pair_id: int, reviewer: str, final: bool) -> Review:
    if session.get(Pair, pair_id) is None:
        raise NotFoundError(f"no pair with id {pair_id}")
    review = find_review(session, pair_id, reviewer, final=final)
    if review is None:
        review = Review(pair_id=pair_id, reviewer=reviewer, final=final, tags=[], note="", version=0)
        session.add(review)
        try:
            session.flush()
        except IntegrityError:  # the same review was started at the same moment (another tab)
            raise _conflict(pair_id) from None
    return review


def _whose(review: Review) -> str:
    return "the final label of" if review.final else "your review of"


def _who(review: Review, reviewer: str) -> str:
    """Who made the review's latest change, as its reader is told."""
    if review.reviewer == reviewer:
        return "you in another window" if not review.final else f"{reviewer} in another window"
    return review.reviewer or "someone"


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
    final: bool = False,
    rationale_seen: bool | None = None,
    **changes: Any,
) -> Review:
    """Change some of label, reason, rationale, tags, note of `reviewer`'s review of the pair (of
    its final review with `final`). `expected_version` guards concurrent edits. A reason goes
    with a skip; labelling the pair after all clears it. `judgment_id`: the judgment the person
    sees; `rationale_seen`: its rationale is on their screen now (kept once true for that judgment)."""
    unknown = set(changes) - set(STATE_FIELDS)
    if unknown:
        raise GramError(f"a review has no fields {sorted(unknown)}")
    if "label" in changes and changes["label"] not in (None, *REVIEW_LABELS):
        raise GramError(f"a review label is A, B, tie or skip (got {changes['label']!r})")
    review = _load(session, pair_id, reviewer, final)
    if expected_version is not None and review.version != expected_version:
        raise ConflictError(
            f"{_whose(review)} pair {pair_id} was changed by {_who(review, reviewer)} meanwhile "
            f"(version {review.version}, you had {expected_version}); reload it"
        )
    if judgment_id is not None:
        if judgment_id != review.judgment_id:
            review.rationale_seen = None  # another judgment: what was seen of the last one says nothing
        review.judgment_id = judgment_id
    if rationale_seen is not None and review.judgment_id is not None:
        review.rationale_seen = bool(review.rationale_seen) or rationale_seen  # once on screen, seen
    if not final and changes.get("label") in DECISIVE and review.label is None and review.instant_prob_a is None:
        # The instant judge's guess (core/head/instant.py keeps one per pair it did not train on),
        # kept before it can learn the answer.
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


def undo(
    session: Session, pair_id: int, *, reviewer: str, expected_version: int | None = None, final: bool = False
) -> Review:
    """Revert `reviewer`'s latest edit of their review of this pair (of its final review with
    `final`), if it is still the latest in effect."""
    return _step(session, pair_id, reviewer, expected_version, ReviewAction.UNDO, final)


def redo(
    session: Session, pair_id: int, *, reviewer: str, expected_version: int | None = None, final: bool = False
) -> Review:
    """Re-apply `reviewer`'s latest undone edit on this pair, if nothing happened since."""
    return _step(session, pair_id, reviewer, expected_version, ReviewAction.REDO, final)


def _step(
    session: Session,
    pair_id: int,
    reviewer: str,
    expected_version: int | None,
    action: ReviewAction,
    final: bool,
) -> Review:
    """Undo or redo. A person steps back and forth through their own changes only: when another
    change came after (a lead's on the final label, or the person's own from another tab, so the
    review is not at the version they saw), it is a conflict and nothing is reverted."""
    review = _load(session, pair_id, reviewer, final)
    done, undone = _stacks(review)
    stack = done if action == ReviewAction.UNDO else undone
    if not stack:
        raise GramError(f"nothing to {action} on pair {pair_id}")
    target = stack[-1]
    if target.reviewer != reviewer or (expected_version is not None and review.version != expected_version):
        raise ConflictError(
            f"{_whose(review)} pair {pair_id} was changed by {_who(review, reviewer)} after your "
            f"change; {action} would revert that, so it was not done"
        )
    state = target.before if action == ReviewAction.UNDO else target.after
    try:
        check_state(state, "state")  # a damaged record is refused, never half applied
    except GramError as error:
        log.error("pair %s: review event %s has a damaged %s: %s", pair_id, target.id, action, error)
        raise GramError(
            f"pair {pair_id}: the change to {action} (event {target.id}) has a damaged record, so it cannot be "
            "reverted; the server log has the details"
        ) from None
    return _apply(session, review, dict(state), action=action, reviewer=reviewer, target=target)


@dataclass(frozen=True)
class ReviewNow:
    """A pair's reviews as they are in the store now: `stamp` grows with every change to any of
    them (0: never reviewed), and the latest change's author and label."""

    stamp: int
    reviewer: str
    label: str | None


def review_now(session: Session, pair_id: int) -> ReviewNow:
    rows = session.execute(
        select(Review.version, Review.reviewer, Review.label, Review.updated_at)
        .where(Review.pair_id == pair_id)
        .order_by(Review.updated_at, Review.id)
    ).all()
    if not rows:
        return ReviewNow(0, "", None)
    latest = rows[-1]
    return ReviewNow(sum(row.version for row in rows), latest.reviewer, latest.label)


def review_version(session: Session, pair_id: int, reviewer: str, *, final: bool = False) -> int:
    """The version of `reviewer`'s review of the pair now (0 before their first)."""
    return session.scalar(select(Review.version).where(_which(pair_id, reviewer, final))) or 0


def history(session: Session, pair_id: int) -> list[ReviewEvent]:
    """Every change to the pair's reviews (everyone's, and the final one), oldest first."""
    return list(
        session.scalars(
            select(ReviewEvent)
            .join(Review, Review.id == ReviewEvent.review_id)
            .where(Review.pair_id == pair_id)
            .order_by(ReviewEvent.id)
        )
    )


def prediction_before_review(session: Session, pair_id: int) -> float | None:
    """The instant judge's P(A) for a pair it has not trained on (None: it has none)."""
    return session.scalar(select(InstantScore.prob_a).where(InstantScore.pair_id == pair_id))
