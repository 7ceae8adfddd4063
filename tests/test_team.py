"""A team's studio in a real headless Chromium: admins (leads) and reviewers (issue 11, item 11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.database import Database
from storage.tables import Job
from tests.browser import USERS, Studio, launched_studio
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture
def team_studio(gram_home: Path, embedded_model_dir: Path, db: Database) -> Iterator[str]:
    """ana is an admin, ben a reviewer."""
    logins = ["--admin", f"ana:{USERS['ana']}", "--auth", f"ben:{USERS['ben']}"]
    with launched_studio(gram_home, embedded_model_dir, logins) as url:
        yield url


def _refused(ui: Studio, what: str) -> None:
    """The studio's error toast says the person may not do it."""
    ui.page.get_by_text(f"only an admin may {what}").first.wait_for(timeout=30_000)


def _jobs(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def test_a_reviewer_cannot_train_activate_or_import_a_server_path_and_an_admin_can(
    team_studio: str, browser: object, db: Database, gram_home: Path
) -> None:
    imports = gram_home / "imports"
    imports.mkdir(parents=True, exist_ok=True)
    (imports / "more.jsonl").write_bytes((FIXTURES / "trl_standard.jsonl").read_bytes())
    ben = Studio(browser, team_studio, "ben", "team-reviewer")
    ben.wait_text("#studio-header", "signed in as ben")
    # Training: refused, and no job was made.
    ben.tab("Adapt")
    ben.choose("adapt-dataset", "demo")
    ben.page.click("#adapt-start")
    _refused(ben, "train a model")
    ben.page.click("#selftrain-start")
    _refused(ben, "train a model")
    assert _jobs(db) == 0
    ben.page.click("#adapt-activate")
    _refused(ben, "activate a model version")
    ben.page.click("#adapt-rollback")
    _refused(ben, "roll back the model")
    ben.tab("Team")  # nor change a dataset's overlap or settle a pair: a lead's work
    ben.page.click("#team-overlap-save")
    _refused(ben, "change how many reviews a pair needs")
    ben.page.locator("#adjudicate-label label", has_text="A").first.click()
    ben.page.click("#adjudicate-save")
    _refused(ben, "set a pair's final label")
    # A path on the server: refused (an upload is a reviewer's to make).
    ben.tab("Datasets")
    ben.page.fill("#delete-confirm textarea, #delete-confirm input", "demo")  # nor delete a dataset
    ben.page.click("#delete-button")
    _refused(ben, "delete a dataset")
    ben.page.fill("#import-path textarea, #import-path input", str(imports / "more.jsonl"))
    ben.page.click("#import-preview")
    _refused(ben, "import from a path on the server")
    ben.shot("refused")
    assert "trl-preference" not in ben.text("#import-detected")
    # The admin may.
    ana = Studio(browser, team_studio, "ana", "team-admin")
    ana.wait_text("#studio-header", "signed in as ana")
    ana.tab("Datasets")
    ana.page.fill("#import-path textarea, #import-path input", str(imports / "more.jsonl"))
    ana.page.click("#import-preview")
    ana.wait_text("#import-detected", "trl-preference")
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


@pytest.mark.postgres
def test_one_persons_slow_save_does_not_hold_up_a_colleagues(
    gram_home: Path, embedded_model_dir: Path, browser: object, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gradio serves one event of a kind at a time unless told otherwise: Ben's label waited behind
    Ana's. Here Ana's save is held by a PostgreSQL row lock the test takes on her review; Ben's save
    of another pair, through the same event, must still go through while hers waits."""
    from sqlalchemy import create_engine, text

    monkeypatch.setenv("GRAM_DB_URL", pg_url)
    logins = [arg for user, password in USERS.items() for arg in ("--auth", f"{user}:{password}")]
    with launched_studio(gram_home, embedded_model_dir, logins) as url:
        ana, ben = Studio(browser, url, "ana", "concurrent-ana"), Studio(browser, url, "ben", "concurrent-ben")
        pair_id = int(ana.text("#pair-header h3").split()[1])
        ana.key("b")  # her review of the first pair exists now...
        ana.wait_text("#review-message", f"Saved pair {pair_id}")
        ana.key("k")
        ana.wait_text("#pair-header h3", f"Pair {pair_id} ")
        ben.key("j")
        ben.wait_text("#pair-header h3", f"Pair {pair_id + 1} ")
        locker = create_engine(pg_url)
        with locker.connect() as connection:  # ...and the test holds it: her next save waits
            connection.execute(
                text("SELECT id FROM reviews WHERE pair_id = :p AND reviewer = 'ana' FOR UPDATE"), {"p": pair_id}
            )
            ana.key("a")
            ana.page.wait_for_timeout(1000)
            ben.key("a")
            ben.wait_text("#review-message", f"Saved pair {pair_id + 1}", timeout=20_000)
            assert "Saved pair" not in ana.text("#review-message")  # still held
            connection.rollback()
        ana.wait_text("#review-message", f"Saved pair {pair_id}", timeout=20_000)
        with locker.connect() as connection:
            labels = connection.execute(text("SELECT reviewer, label FROM reviews ORDER BY pair_id, reviewer")).all()
        locker.dispose()
        assert [tuple(row) for row in labels] == [("ana", "A"), ("ben", "A")]
        assert not ana.errors and not ben.errors, (ana.errors, ben.errors)
