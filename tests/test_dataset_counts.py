"""Each dataset's count of its pairs (migration 0014's triggers): true after imports, deletes and
moves, on SQLite and PostgreSQL, and when several imports into one dataset run at once."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, insert, select, update

from storage.database import Database
from storage.tables import Dataset, Pair
from tests.helpers import threads_at_once


def _assert_true(db: Database) -> None:
    with db.session() as session:
        counted = dict(session.execute(select(Pair.dataset_id, func.count()).group_by(Pair.dataset_id)).all())
        stored = dict(session.execute(select(Dataset.id, Dataset.pair_count)).all())
    assert stored == {i: counted.get(i, 0) for i in stored}


def _rows(dataset_id: int, start: int, n: int) -> list[dict[str, object]]:
    return [
        {
            "dataset_id": dataset_id,
            "prompt": "p",
            "response_a": "a",
            "response_b": "b",
            "content_hash": f"{i}",
            "meta": {},
        }
        for i in range(start, start + n)
    ]


def _writes_keep_the_count(db: Database) -> None:
    with db.session() as session:
        first, second = Dataset(name="one", source="t"), Dataset(name="two", source="t")
        session.add_all([first, second])
        session.flush()
        ids = (first.id, second.id)
    steps = [
        lambda s: s.execute(insert(Pair), _rows(ids[0], 0, 50)),  # one statement, many rows
        lambda s: s.add(Pair(**_rows(ids[1], 0, 1)[0])),  # one pair through the models
        lambda s: s.execute(delete(Pair).where(Pair.dataset_id == ids[0], Pair.content_hash.in_(["1", "2", "3"]))),
        lambda s: s.execute(
            update(Pair).where(Pair.dataset_id == ids[0], Pair.content_hash == "4").values(dataset_id=ids[1])
        ),
        lambda s: s.execute(update(Pair).where(Pair.dataset_id == ids[0]).values(prompt="q")),  # not a move
        lambda s: s.execute(delete(Dataset).where(Dataset.id == ids[1])),  # its pairs go with it
    ]
    for step in steps:
        with db.session() as session:
            step(session)
        _assert_true(db)
    with db.session() as session:
        assert session.scalar(select(Dataset.pair_count).where(Dataset.id == ids[0])) == 46


def _imports_at_once(db: Database, imports: int = 6) -> None:
    with db.session() as session:
        dataset = Dataset(name="busy", source="t")
        session.add(dataset)
        session.flush()
        dataset_id = dataset.id

    def load(k: int) -> None:
        with db.session() as session:
            session.execute(insert(Pair), _rows(dataset_id, k * 100, 100))

    assert threads_at_once(load, imports) == []
    _assert_true(db)


def test_every_write_keeps_the_count(either_db: Database) -> None:
    _writes_keep_the_count(either_db)


@pytest.mark.timeout(120)
def test_imports_at_once_are_all_counted(either_db: Database) -> None:
    _imports_at_once(either_db)
