"""The studio's page functions on a real store (the browser tests drive the same code through Chromium)."""

from __future__ import annotations

import time
from pathlib import Path

from app.context import StudioContext
from app.pages import judge
from core.data.demo import seed_demo
from core.settings import Settings
from storage.database import Database


def test_a_judging_run_that_fails_says_so_on_the_judge_page(settings: Settings, db: Database, tmp_path: Path) -> None:
    """The model cannot load, so the run dies before its job exists: the page must not keep
    saying 'Judging…' with no job; it shows why, and the log has the traceback."""
    with db.session() as session:
        seed_demo(session, settings)
    ctx = StudioContext(settings.model_copy(update={"model": str(tmp_path / "no-such-model")}), db)
    assert judge.start_judging(ctx, "demo", 2, True, False, 16) == "Judging demo…"
    _wait(ctx)
    shown = judge.judging_status(ctx)
    assert "Judging failed" in shown and "cannot load model" in shown and str(tmp_path) in shown
    assert judge.start_judging(ctx, "demo", 2, True, False, 16)  # the lock was released: it can run again
    _wait(ctx)


def _wait(ctx: StudioContext) -> None:
    deadline = time.monotonic() + 60
    time.sleep(0.2)
    while ctx.judging.locked() and time.monotonic() < deadline:
        time.sleep(0.1)
