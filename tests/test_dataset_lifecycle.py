"""Renaming and deleting datasets, and bulk actions over a reviewer's filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.data.datasets import rename_dataset
from core.data.demo import demo_paths
from core.data.importer import import_files
from core.errors import ConfigError, ConflictError, GramError
from core.export.deletion import delete_dataset
from core.export.rows import export_rows
from core.review.bulk import MAX_BULK, accept_reference_labels, tag_all
from core.review.queue import QueueFilter
from core.review.reviews import find_review, history, save_review
from storage.database import Database
from storage.tables import Dataset, Job, Judgment, Pair, Review, ReviewEvent

LIMITS = {"max_bytes": 2**30, "max_chars": 200_000}


@pytest.fixture
def demo(db: Database) -> list[int]:
    with db.session() as session:
        import_files(session, [demo_paths()[0]], dataset="demo", **LIMITS)
    with db.session() as session:
        ids = list(session.scalars(select(Pair.id).order_by(Pair.id)))
        session.add(Judgment(pair_id=ids[0], model="m", backend="transformers", label="B", rationale="model says B"))
        save_review(session, ids[0], reviewer="ana", label="A", rationale="A is right")
        save_review(session, ids[0], reviewer="ben", label="B")
        save_review(session, ids[1], reviewer="ana", label="skip", reason="cut off")
        save_review(session, ids[0], reviewer="lead", final=True, label="A")
    return ids


def _count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_deleting_a_dataset_keeps_everything_in_a_dump_that_restores_it(
    db: Database, demo: list[int], tmp_path: Path
) -> None:
    with db.session() as session:
        before = export_rows(session, "demo", "jsonl").rows
    deleted = delete_dataset(db, "demo", tmp_path / "deleted")
    assert (deleted.pairs, deleted.judgments, deleted.reviews, deleted.events) == (100, 1, 4, 4)
    assert "100 pairs" in deleted.summary() and str(deleted.kept_in) in deleted.summary()
    assert [_count(db, t) for t in (Dataset, Pair, Judgment, Review, ReviewEvent)] == [0, 0, 0, 0, 0]
    with db.session() as session:
        report = import_files(session, [deleted.kept_in], dataset="demo", **LIMITS)
        assert report.imported == 100 and not report.errors
    with db.session() as session:
        after = export_rows(session, "demo", "jsonl").rows
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)


def test_no_rename_or_delete_while_a_job_works_on_the_dataset(db: Database, demo: list[int], tmp_path: Path) -> None:
    with db.session() as session:
        session.add(Job(kind="judge", status="running", dataset_id=1, config={}, result={}))
    with pytest.raises(ConflictError, match="a job is working on 'demo'"):
        delete_dataset(db, "demo", tmp_path / "deleted")
    with db.session() as session, pytest.raises(ConflictError, match="a job is working"):
        rename_dataset(session, "demo", "other")
    assert _count(db, Pair) == 100 and not (tmp_path / "deleted").exists()


def test_renaming_checks_the_new_name(db: Database, demo: list[int]) -> None:
    with db.session() as session:
        session.add(Dataset(name="taken"))
    with db.session() as session, pytest.raises(ConflictError, match="exists already"):
        rename_dataset(session, "demo", "taken")
    with db.session() as session, pytest.raises(ConfigError, match="path separator"):
        rename_dataset(session, "demo", "../etc")
    with db.session() as session:
        rename_dataset(session, "demo", "llmbar natural")
    with db.session() as session:
        assert session.scalar(select(func.count()).where(Dataset.name == "llmbar natural")) == 1
        assert len(find_review(session, demo[0], "ana").pair.dataset.pairs) == 100  # type: ignore[union-attr]


def test_accepting_reference_labels_labels_only_what_the_person_has_not(db: Database, demo: list[int]) -> None:
    """Over everything for cy: the reference becomes cy's label on every pair; ana's and ben's
    reviews are untouched, and each accepted pair's history says it was cy. Over ana's reviewed
    pairs: her own labels stay."""
    result = accept_reference_labels(db, QueueFilter("demo", reviewer="cy"), "cy")
    assert (result.changed, result.unchanged) == (100, 0)
    with db.session() as session:
        pairs = session.scalars(select(Pair).order_by(Pair.id)).all()
        assert all(find_review(session, p.id, "cy").label == p.reference_label for p in pairs)  # type: ignore[union-attr]
        assert find_review(session, demo[0], "ana").label == "A"  # type: ignore[union-attr]
        assert history(session, demo[5])[-1].reviewer == "cy"
    again = accept_reference_labels(db, QueueFilter("demo", reviewer="cy"), "cy")
    assert (again.changed, again.unchanged) == (0, 100)
    ana = accept_reference_labels(db, QueueFilter("demo", search="zzz-no-such-text", reviewer="ana"), "ana")
    assert (ana.changed, ana.unchanged) == (0, 0)
    ana = accept_reference_labels(db, QueueFilter("demo", status="reviewed", reviewer="ana"), "ana")
    assert (ana.changed, ana.unchanged) == (0, 2)  # her own labels (A, and a skip) stay


def test_bulk_tag_tags_the_filtered_pairs_once(db: Database, demo: list[int]) -> None:
    f = QueueFilter("demo", status="reviewed", reviewer="ana")
    assert tag_all(db, f, "ana", "checked").changed == 2
    assert tag_all(db, f, "ana", "checked").unchanged == 2
    with db.session() as session:
        assert find_review(session, demo[0], "ana").tags == ["checked"]  # type: ignore[union-attr]
        assert find_review(session, demo[0], "ben").tags == []  # type: ignore[union-attr]
    with pytest.raises(GramError, match="one tag"):
        tag_all(db, f, "ana", "a, b")
    assert MAX_BULK >= 10_000
