"""Who is on a pair now, so that a team's "needs you" queues spread people over the pairs.

When a person opens a pair from their "needs you" queue they hold it for a while (one pair per
person); a colleague's queue steps past pairs held by someone else, so two people reviewing at
once do not start on the same pair (Label Studio locks tasks the same way; Argilla's task
distribution decides which pairs still need whom). Holds only order the work: a held pair can
still be opened and reviewed by anyone. Taking a hold is one conditional UPDATE or one INSERT on
the pair's row, so two people racing for one pair cannot both get it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.tables import ReviewHold, utcnow

HOLD = timedelta(minutes=10)  # a pair left open longer than this is offered to others again


def take_hold(session: Session, pair_id: int, reviewer: str, now: datetime | None = None) -> bool:
    """Hold the pair for `reviewer` (dropping their other hold) unless a colleague holds it now."""
    now = now or utcnow()
    renewed = session.execute(
        update(ReviewHold)
        .where(ReviewHold.pair_id == pair_id, or_(ReviewHold.reviewer == reviewer, ReviewHold.until < now))
        .values(reviewer=reviewer, until=now + HOLD)
        .execution_options(synchronize_session=False)
    )
    if not renewed.rowcount:  # type: ignore[attr-defined]
        if session.scalar(select(ReviewHold.reviewer).where(ReviewHold.pair_id == pair_id)) is not None:
            return False  # a colleague's, and not expired
        try:
            with session.begin_nested():
                session.add(ReviewHold(pair_id=pair_id, reviewer=reviewer, until=now + HOLD))
        except IntegrityError:  # a colleague took it at the same moment
            return False
    session.execute(delete(ReviewHold).where(ReviewHold.reviewer == reviewer, ReviewHold.pair_id != pair_id))
    return True
