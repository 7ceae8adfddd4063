"""The same store on PostgreSQL: migrations, import, reviews, counts and the dump round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from sqlalchemy import inspect

from core.data.datasets import list_datasets
from core.data.demo import demo_paths
from core.data.importer import import_files
from core.export.rows import export_rows
from core.review.reviews import save_review, undo
from storage.database import Database, downgrade
from storage.tables import Base, Dataset, Judgment, Pair
from tests import helpers

pytestmark = pytest.mark.postgres


def test_migrations_from_scratch_match_the_models(pg_url: str) -> None:
    db = Database(pg_url)
    with db.engine.connect() as connection:
        assert connection.dialect.name == "postgresql"
        assert compare_metadata(helpers.schema_context(connection), Base.metadata) == []
    downgrade(db.engine, "base")
    with db.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
    db.dispose()


def test_import_review_count_and_round_trip(pg_url: str, tmp_path: Path) -> None:
    db = Database(pg_url)
    limits = {"max_bytes": 2**30, "max_chars": 200_000}
    with db.session() as session:
        report = import_files(session, demo_paths(), dataset="demo", **limits)
        assert report.imported == 400
    with db.session() as session:
        assert import_files(session, demo_paths(), dataset="demo", **limits).duplicates == 400
        pair = session.query(Pair).order_by(Pair.id).first()
        session.add(Judgment(pair=pair, model="m", backend="vllm", label="A", rationale="r", orders=[{"order": "AB"}]))
        session.flush()
        save_review(session, pair.id, reviewer="ana", label="B", tags=["x"])
        save_review(session, pair.id, reviewer="ana", note="n")
        undo(session, pair.id, reviewer="ana")
    with db.session() as session:
        (summary,) = list_datasets(session)
        assert (summary.pairs, summary.judged, summary.reviewed) == (400, 1, 1)
        first = export_rows(session, "demo", "jsonl").rows
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in first))
    with db.session() as session:
        assert import_files(session, [path], dataset="copy", **limits).imported == 400
    with db.session() as session:
        second = export_rows(session, "copy", "jsonl").rows
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
    db.dispose()


def test_two_saves_of_one_review_at_once_on_postgresql(pg_url: str) -> None:
    """The same races as on SQLite, against a real server (row locks, READ COMMITTED): one person
    in two windows, then two leads on the final label."""
    from tests.helpers import LEADS, assert_one_save_wins, race_review_saves

    db = Database(pg_url)
    with db.session() as session:
        import_files(session, [demo_paths()[0]], dataset="demo", max_bytes=2**30, max_chars=200_000)
    with db.session() as session:
        pair_ids = [p.id for p in session.query(Pair).order_by(Pair.id).limit(10)]
    assert_one_save_wins(db, pair_ids, race_review_saves(db, pair_ids))
    assert_one_save_wins(db, pair_ids, race_review_saves(db, pair_ids))
    assert_one_save_wins(db, pair_ids, race_review_saves(db, pair_ids, LEADS), LEADS)
    db.dispose()


def test_runners_claiming_one_job_at_once_on_postgresql(pg_url: str) -> None:
    """Starting the same work from many threads at once, then taking over a stale claim from many
    at once: one winner each time (the partial unique index and the compare-and-set)."""
    from storage.tables import Job
    from tests.test_job_claims import race_round

    db = Database(pg_url)
    for _ in range(3):
        job_id = race_round(db)
        with db.session() as session:
            session.query(Job).filter(Job.id == job_id).delete()
    db.dispose()


@pytest.mark.timeout(300)
def test_processes_opening_a_fresh_database_at_once_all_get_the_migrated_schema(pg_url: str) -> None:
    from tests.helpers import first_starts_at_once

    assert first_starts_at_once(pg_url) == []
    db = Database(pg_url, run_migrations=False)
    with db.engine.connect() as connection:
        assert compare_metadata(helpers.schema_context(connection), Base.metadata) == []
    db.dispose()


def test_text_search_uses_the_trigram_indexes_on_postgresql(pg_url: str) -> None:
    """The queue's search on PostgreSQL finds substrings in any case and script, and the planner can
    answer it from the GIN trigram indexes (migration 0009) instead of reading every pair."""
    from sqlalchemy import select, text

    from core.review.queue import QueueFilter, _searched, queue_page

    db = Database(pg_url)
    with db.session() as session:
        import_files(session, demo_paths(), dataset="demo", max_bytes=2**30, max_chars=200_000)
        pair = session.query(Pair).order_by(Pair.id).first()
        pair.response_b = "Über PINGUINE und 50% off_sale"
    with db.session() as session:
        rows, total, _ = queue_page(session, QueueFilter("demo", search="über pinguine"))
        assert total == 1 and rows[0].pair_id == pair.id
        assert queue_page(session, QueueFilter("demo", search="50% off_"))[1] == 1
        # On 400 pairs any scan is cheap: forbid the full ones to see what serves the predicate.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_indexscan = off"))
        query = select(Pair.id).where(*_searched(session, QueueFilter("demo", search="pinguine")))
        sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(r[0] for r in session.execute(text("EXPLAIN " + sql.replace("%%", "%"))))
    assert "ix_pairs_response_b_trigrams" in plan, plan
    db.dispose()


def test_pairs_follow_their_latest_judgment_on_postgresql(pg_url: str) -> None:
    """The trigger keeps each pair's latest judgment on PostgreSQL too, through deletes of a
    judgment and of a whole dataset (whose cascade deletes the judgments under their pairs)."""
    from sqlalchemy import delete, func, select

    from core.review.queue import QueueFilter, queue_page

    db = Database(pg_url)
    with db.session() as session:
        import_files(session, demo_paths(), dataset="demo", max_bytes=2**30, max_chars=200_000)
        first, second = session.scalars(select(Pair.id).order_by(Pair.id).limit(2)).all()
        for pair_id, confidence in ((first, 0.9), (first, 0.6), (second, 0.7)):
            session.add(Judgment(pair_id=pair_id, model="m", backend="b", label="A", confidence=confidence, orders=[]))
    with db.session() as session:
        rows, total, _ = queue_page(session, QueueFilter("demo", sort="confidence-asc"), 0, 2)
        assert [(r.pair_id, r.confidence) for r in rows] == [(first, 0.6), (second, 0.7)] and total == 400
        last = queue_page(session, QueueFilter("demo", sort="confidence-desc"), 199, 2).rows
        assert len(last) == 2 and all(r.confidence is None for r in last)
        newest = session.scalar(select(func.max(Judgment.id)).where(Judgment.pair_id == first))
        session.execute(delete(Judgment).where(Judgment.id == newest))
    with db.session() as session:
        assert session.get(Pair, first).latest_confidence == 0.9
        session.delete(session.query(Dataset).filter_by(name="demo").one())
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Pair)) == 0
    db.dispose()


def test_inconsistent_and_disagreeing_pairs_are_counted_from_the_index_alone(pg_url: str) -> None:
    """The queue's count of "inconsistent, disagreeing with the reference" reads only the index of
    inconsistent pairs, which holds both labels (migration 0015): at a million pairs, reading the
    wide pair rows it points to took 127 ms."""
    from sqlalchemy import event, select, text

    from core.review.queue import QueueFilter, queue_page

    db = Database(pg_url)
    with db.session() as session:
        import_files(session, demo_paths(), dataset="demo", max_bytes=2**30, max_chars=200_000)
        for pair_id in session.scalars(select(Pair.id).order_by(Pair.id).limit(40)):
            session.add(Judgment(pair_id=pair_id, model="m", backend="b", label="B", consistent=False, orders=[]))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE pairs"))  # as autovacuum would: the heap is all-visible
    statements: list[tuple[str, object]] = []
    listener = lambda *args: statements.append((args[2], args[3]))  # noqa: E731 - (conn, cursor, statement, params, ...)
    f = QueueFilter("demo", inconsistent_only=True, disagreeing_only=True)
    with db.session() as session:
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page = queue_page(session, f, 0, 5, count_up_to=10_000)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        expected = session.scalar(
            select(text("count(*)"))
            .select_from(Pair)
            .where(Pair.latest_consistent.is_(False), Pair.reference_label == "A", Pair.latest_label == "B")
        )
        assert (page.total, page.counted) == (expected, True) and 0 < expected < 40
        (count, params), *_ = [(s, p) for s, p in statements if "count(" in s]
        # On 400 pairs any scan is cheap: forbid the others to see whether the index alone serves it.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = " ".join(r[0] for r in session.connection().exec_driver_sql("EXPLAIN " + count, params))
    assert "Index Only Scan using ix_pairs_inconsistent" in plan, plan
    db.dispose()
