"""The studio's page functions on a real store (the browser tests drive the same code through Chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.context import StudioContext
from app.pages import judge
from core.data.demo import seed_demo
from core.errors import GramError
from core.settings import Settings
from storage.database import Database
from tests.helpers import wait_for


def test_a_judging_run_that_fails_says_so_on_the_judge_page(settings: Settings, db: Database, tmp_path: Path) -> None:
    """A missing model folder is refused at the click, before any job; a folder that is there but
    will not load fails in the worker process the page started: its job fails with the reason,
    the page says why instead of 'Judging…' for ever, and a new click starts again."""
    with db.session() as session:
        seed_demo(session, settings)
    missing = StudioContext(settings.model_copy(update={"model": str(tmp_path / "no-such-model")}), db)
    with pytest.raises(GramError, match="no such model folder"):
        judge.start_judging(missing, "demo", 2, True, False, 16)
    assert "No job yet" in judge.judging_status(missing)

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    ctx = StudioContext(settings.model_copy(update={"model": str(broken)}), db)
    said = judge.start_judging(ctx, "demo", 2, True, False, 16)
    assert said.startswith("Judging demo (job ")
    wait_for(lambda: 'data-status="failed"' in judge.judging_status(ctx), seconds=120, what="the failed job")
    shown = judge.judging_status(ctx)
    assert "the worker could not load broken-model" in shown
    assert judge.start_judging(ctx, "demo", 2, True, False, 16).startswith("Judging demo (job ")
    wait_for(lambda: 'data-status="failed"' in judge.judging_status(ctx), seconds=120, what="the second failure")


def _ctx(settings: Settings, db: Database) -> StudioContext:
    return StudioContext(settings.model_copy(update={"model": "unused"}), db)


def test_import_by_server_path_reads_only_the_allowed_folders(settings: Settings, db: Database, tmp_path: Path) -> None:
    """A logged-in person can type a server path; only files under GRAM_IMPORT_ROOTS (default: the data
    folder's imports/) are read, symlinks followed, and every refusal says the same thing."""
    import csv

    import pytest

    from app.pages import datasets
    from core.errors import GramError

    secrets = tmp_path / "secrets.csv"
    with secrets.open("w", newline="") as handle:
        csv.writer(handle).writerows([["prompt", "response_a", "response_b"], ["api key", "hunter2", "s3cr3t"]])
    allowed = settings.home / "imports"
    allowed.mkdir(parents=True)
    (allowed / "link.csv").symlink_to(secrets)
    (allowed / "pairs.csv").write_bytes(secrets.read_bytes().replace(b"hunter2", b"fine"))
    ctx = _ctx(settings, db)
    refusals = set()
    for typed in (
        str(secrets),
        str(tmp_path / "missing.csv"),
        str(allowed / "link.csv"),
        "../" * 12 + str(secrets),
        str(allowed / ".." / ".." / secrets.name),
        "~/secrets.csv",
    ):
        for attempt in (
            lambda p: datasets.preview_import(ctx, None, p, ""),
            lambda p: datasets.run_import(ctx, None, p, "", "stolen", False),
        ):
            with pytest.raises(GramError) as refused:
                attempt(typed)
            refusals.add(str(refused.value))
    assert len(refusals) == 1 and "GRAM_IMPORT_ROOTS" in refusals.pop()  # reveals nothing about the path
    summary, _, _ = datasets.run_import(ctx, None, str(allowed / "pairs.csv"), "", "mine", False)
    assert "imported 1 pairs" in summary
    summary, _, _ = datasets.run_import(ctx, None, "pairs.csv", "", "mine2", False)  # relative to the first root
    assert "imported 1 pairs" in summary


def test_a_late_page_load_keeps_the_dataset_a_person_already_chose(settings: Settings, db: Database) -> None:
    """On a busy studio the page's load event can answer after the person's first choice; it fills
    the list but must not put the first dataset back (their next save would go there)."""
    from app.widgets import first_dataset
    from storage.tables import Dataset

    ctx = _ctx(settings, db)
    with db.session() as session:
        seed_demo(session, settings)
        session.add(Dataset(name="second"))
    assert first_dataset(ctx)["value"] == "demo"
    assert first_dataset(ctx, "second") == {"__type__": "update", "choices": ["demo", "second"], "value": "second"}
    assert first_dataset(ctx, "gone")["value"] == "demo"  # a choice that no longer exists: the first
