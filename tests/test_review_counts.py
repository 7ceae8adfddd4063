"""Each pair's count of people's labels and of their distinct labels, and each review's tags as rows
(migration 0012's triggers): true after every kind of write, on SQLite and PostgreSQL, and when
people label one pair at once."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete, insert, select, update

from core.review.reviews import save_review, undo
from storage.database import Database
from storage.tables import Pair, Review, ReviewTag
from tests import factories
from tests.helpers import threads_at_once


def _pairs(db: Database, n: int) -> list[int]:
    with db.session() as session:
        return factories.dataset(session, n, labels=None, reviews_per_pair=2)


def _assert_true(db: Database, pair_ids: list[int]) -> None:
    """The stored counts and tag rows equal the ones recomputed from the reviews themselves."""
    with db.session() as session:
        reviews = session.execute(select(Review.pair_id, Review.label, Review.final)).all()
        stored = {i: (c, k) for i, c, k in session.execute(select(Pair.id, Pair.review_count, Pair.review_labels))}
        tags = {(r.id, r.pair_id, tag) for r in session.scalars(select(Review)) for tag in r.tags}
        assert set(session.execute(select(ReviewTag.review_id, ReviewTag.pair_id, ReviewTag.tag))) == tags
    for pair_id in pair_ids:
        labels = [label for p, label, final in reviews if p == pair_id and not final and label is not None]
        assert stored[pair_id] == (len(labels), len(set(labels))), (pair_id, labels)


def _writes_keep_the_counts(db: Database) -> None:
    first, second, third = _pairs(db, 3)
    steps = [
        lambda s: save_review(s, first, reviewer="ana", label="A"),
        lambda s: save_review(s, first, reviewer="ben", label="B"),  # a disagreement
        lambda s: save_review(s, first, reviewer="lead", label="A", final=True),  # a final label is not a person's
        lambda s: save_review(s, first, reviewer="ben", label="A"),  # now they agree
        lambda s: undo(s, first, reviewer="ben"),  # and disagree again
        lambda s: save_review(s, second, reviewer="ana", tags=["hard", "über", "hard"]),  # no label yet
        lambda s: save_review(s, first, reviewer="ben", tags=["long"]),
        lambda s: save_review(s, second, reviewer="ana", tags=["über"]),
        lambda s: save_review(s, second, reviewer="ana", label="skip", reason="no answer"),
        lambda s: save_review(s, third, reviewer="cy", label="tie"),
        lambda s: s.execute(update(Review).where(Review.pair_id == third).values(pair_id=second)),  # moved
        lambda s: s.execute(delete(Review).where(Review.reviewer == "ana", Review.pair_id == first)),
    ]
    for step in steps:
        with db.session() as session:
            step(session)
        _assert_true(db, [first, second, third])
    with db.session() as session:
        assert session.get(Pair, second).review_labels == 2  # type: ignore[union-attr]  # skip and tie
        session.execute(delete(Pair).where(Pair.id == first))  # its reviews go with it (cascade)
    _assert_true(db, [second, third])


def _people_at_once(db: Database, people: int = 8) -> None:
    (pair_id,) = _pairs(db, 1)

    def label(person: int) -> None:
        # A labelled review in one statement, as a restore writes it. (The studio's save makes the
        # review, then labels it: its second recount, after the wait, would hide a lost count.)
        with db.session() as session:
            session.execute(insert(Review).values(pair_id=pair_id, reviewer=f"person-{person}", label="AB"[person % 2]))
            time.sleep(0.2)  # a slow request: the others' saves overlap this one's transaction

    assert threads_at_once(label, people) == []
    with db.session() as session:
        assert session.execute(select(Pair.review_count, Pair.review_labels).where(Pair.id == pair_id)).one() == (
            people,
            2,
        )


def test_every_write_keeps_the_counts(either_db: Database) -> None:
    _writes_keep_the_counts(either_db)


@pytest.mark.timeout(120)
def test_people_labelling_one_pair_at_once_are_all_counted(either_db: Database) -> None:
    _people_at_once(either_db)
