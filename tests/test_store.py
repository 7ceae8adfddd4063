"""The store: migrations build the schema the models describe, on SQLite (and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from storage.database import Database, downgrade, make_engine, migrate
from storage.tables import Base, Dataset, Judgment, Pair
from tests import helpers
from tests.helpers import first_connections_at_once, first_starts_at_once


def test_migrations_build_the_models_schema_from_scratch(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(helpers.schema_context(connection), Base.metadata)
        tables = set(inspect(connection).get_table_names())
    assert diff == []
    assert {"datasets", "pairs", "judgments", "reviews", "review_events", "model_versions", "jobs"} <= tables


def test_migrate_is_idempotent_and_downgrades(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    migrate(engine)  # a second start changes nothing
    downgrade(engine, "base")
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
    migrate(engine)
    with engine.connect() as connection:
        assert "pairs" in inspect(connection).get_table_names()


@pytest.mark.timeout(300)
def test_processes_opening_a_fresh_store_at_once_all_get_the_migrated_schema(tmp_path: Path) -> None:
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'fresh-{round_}.db'}"
        assert first_starts_at_once(url) == []
        with make_engine(url).connect() as connection:
            assert compare_metadata(helpers.schema_context(connection), Base.metadata) == []


@pytest.mark.timeout(300)
def test_processes_connecting_to_a_fresh_sqlite_file_at_once_all_turn_on_wal(tmp_path: Path) -> None:
    # Turning on WAL writes the file's header: two first connections racing for it made one fail at
    # once with "database is locked" (SQLite does not wait when waiting could deadlock).
    urls = [f"sqlite:///{tmp_path / f'fresh-{i}.db'}" for i in range(40)]
    assert first_connections_at_once(urls) == []
    for url in urls:
        with make_engine(url).connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_foreign_keys_are_enforced_and_cascade(db: Database) -> None:
    with db.session() as session:
        with pytest.raises(IntegrityError):
            session.add(Pair(dataset_id=999, prompt="p", response_a="a", response_b="b", content_hash="h"))
            session.flush()
        session.rollback()
        dataset = Dataset(name="d")
        pair = Pair(dataset=dataset, prompt="p", response_a="a", response_b="b", content_hash="h")
        session.add_all([dataset, pair, Judgment(pair=pair, model="m", backend="transformers")])
    with db.session() as session:
        session.execute(text("DELETE FROM datasets"))
    with db.session() as session:
        assert session.query(Pair).count() == 0
        assert session.query(Judgment).count() == 0


def test_a_pair_is_stored_once_per_dataset(db: Database) -> None:
    with db.sessionmaker() as session:
        dataset = Dataset(name="d")
        session.add(dataset)
        session.flush()
        for _ in range(2):
            session.add(Pair(dataset_id=dataset.id, prompt="p", response_a="a", response_b="b", content_hash="same"))
        with pytest.raises(IntegrityError):
            session.flush()


def test_every_foreign_key_a_page_reads_by_is_indexed(db: Database) -> None:
    """The pair view reads a review's events by review_id; without an index each view scans the table."""
    from sqlalchemy import inspect

    indexed = {tuple(ix["column_names"]) for ix in inspect(db.engine).get_indexes("review_events")}
    assert ("review_id",) in indexed


def test_a_migration_that_copies_a_table_keeps_the_rows_that_refer_to_it(tmp_path: Path) -> None:
    """SQLite alters a column's type by copying the table and dropping the old one; with foreign
    keys on, that drop would delete every review's history (review_events cascade)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0006_instant_judge")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO datasets (id, name, source, description, created_at) VALUES (1, 'd', '', '', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO pairs (id, dataset_id, prompt, response_a, response_b, source, meta, content_hash,"
                " created_at) VALUES (1, 1, 'p', 'a', 'b', '', '{}', 'h', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO reviews (id, pair_id, label, tags, note, reviewer, version, updated_at)"
                " VALUES (1, 1, 'A', '[]', '', 'ana', 1, '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO review_events (id, review_id, action, before, after, reviewer, created_at)"
                " VALUES (1, 1, 'edit', '{}', '{\"label\": \"A\"}', 'ana', '2026-01-01')"
            )
        )
    migrate(engine)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM review_events")).scalar() == 1
        assert connection.execute(text("SELECT label, reason, final FROM reviews")).one() == ("A", "", 0)
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on for the store's use
        # One review per person now: Ben's own review of the same pair is a second row.
        connection.execute(
            text(
                "INSERT INTO reviews (id, pair_id, label, tags, note, reviewer, version, updated_at, final, reason)"
                " VALUES (2, 1, 'B', '[]', '', 'ben', 1, '2025-12-31', 0, '')"
            )
        )
    with pytest.raises(IntegrityError), engine.begin() as connection:  # but not two of Ana's
        connection.execute(
            text(
                "INSERT INTO reviews (id, pair_id, label, tags, note, reviewer, version, updated_at, final, reason)"
                " VALUES (3, 1, 'B', '[]', '', 'ana', 1, '2026-01-02', 0, '')"
            )
        )
    downgrade(engine, "0006_instant_judge")  # one review per pair again: the latest changed stays
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM review_events")).scalar() == 1
        assert connection.execute(text("SELECT reviewer, label FROM reviews")).one() == ("ana", "A")


def test_the_text_index_is_built_for_the_pairs_a_store_already_holds(tmp_path: Path) -> None:
    """Migration 0009 indexes the text of pairs stored before it, and downgrades cleanly."""
    from sqlalchemy import insert, text
    from sqlalchemy.orm import Session

    from storage.tables import Dataset, Pair

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0008_team_reviews")
    with Session(engine) as session, session.begin():  # only the columns 0008 has
        dataset_id = session.execute(insert(Dataset).values(name="d", source="s")).inserted_primary_key[0]
        row = {"prompt": "an old question", "response_a": "about penguins", "response_b": "b", "content_hash": "h"}
        session.execute(insert(Pair).values(dataset_id=dataset_id, **row))
    migrate(engine)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT rowid FROM pairs_text WHERE pairs_text MATCH '\"PENGUIN\"'")).all()
    assert found == [(1,)]
    downgrade(engine, "0008_team_reviews")
    with engine.connect() as connection:
        assert not [t for t in inspect(connection).get_table_names() if t.startswith("pairs_text")]


def test_the_review_counts_are_filled_in_for_a_store_that_has_reviews(tmp_path: Path) -> None:
    """Migration 0012 counts the labels of reviews stored before it (a lead's final one not among them)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0011_job_batches")
    with engine.begin() as connection:  # only the columns 0011 has
        connection.execute(
            text(
                "INSERT INTO datasets (id, name, source, description, created_at, reviews_per_pair) "
                "VALUES (1, 'd', 's', '', '2026-01-01', 2)"
            )
        )
        for pair_id in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO pairs (id, dataset_id, prompt, response_a, response_b, source, meta, content_hash, "
                    "created_at) VALUES (:id, 1, 'p', 'a', 'b', '', '{}', :id, '2026-01-01')"
                ),
                {"id": pair_id},
            )
        for who, label, final in (("ana", "A", 0), ("ben", "B", 0), ("lead", "A", 1), ("cy", None, 0)):
            connection.execute(
                text(
                    "INSERT INTO reviews (pair_id, final, label, tags, note, reviewer, version, reason, updated_at) "
                    "VALUES (1, :final, :label, '[]', '', :who, 1, '', '2026-01-01')"
                ),
                {"final": final, "label": label, "who": who},
            )
    migrate(engine)
    with engine.connect() as connection:
        counts = connection.execute(text("SELECT id, review_count, review_labels FROM pairs ORDER BY id")).all()
    assert counts == [(1, 2, 2), (2, 0, 0)]
    downgrade(engine, "0011_job_batches")
    migrate(engine)
