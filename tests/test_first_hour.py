"""The first hour (issue 26) in a real headless Chromium at 1366x768, on a fresh studio of the
embedded default model: it opens on a judged pair with a hint; keys act after a click and after a
box sent itself; text shows its line breaks; any version is activated from the studio and a roll
back asks first; the import folder exists and is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.review.reviews import save_review
from core.settings import Settings
from storage.database import Database
from storage.tables import Pair
from tests.browser import USERS, Studio, first_pair_id, launched_studio, review_of
from tests.conftest import FIXTURES
from tests.helpers import gram_output as gram

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
LAPTOP = (1366, 768)


@pytest.fixture
def fresh_studio(gram_home: Path, embedded_model_dir: Path, settings: Settings) -> object:
    """launch.py on a fresh data folder with the embedded model (converted once per session, linked)."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / embedded_model_dir.name).symlink_to(embedded_model_dir)
    logins = [arg for user, password in USERS.items() for arg in ("--auth", f"{user}:{password}")]
    with launched_studio(gram_home, "embedded", logins) as url:
        yield url


def test_the_first_screen_shows_a_judged_pair_and_keys_never_fall_into_a_trap(
    fresh_studio: str, browser: object, db: Database, settings: Settings
) -> None:
    ui = Studio(browser, fresh_studio, "ana", "first-hour", viewport=LAPTOP)
    ui.open_dataset("demo")
    # 1. A judged pair and what to do next, not "Not judged yet".
    ui.wait_text("#pair-verdict", "SmolLM2-135M-Instruct (label-only)")
    assert "Not judged yet" not in ui.text("#pair-verdict")
    ui.wait_text("#queue-page", "Press a or b")
    assert "stand-in" in ui.text("#queue-page")  # the untrained 135M model is said to be one
    first = first_pair_id(ui)
    # 3. After Enter in the skip reason, the next key acts on the next pair.
    ui.page.fill("#skip-reason input, #skip-reason textarea", "no context given")
    ui.page.press("#skip-reason input, #skip-reason textarea", "Enter")
    ui.wait_text("#pair-header h3", f"Pair {first + 1} ")
    ui.page.keyboard.press("b")  # no click first: the box let go of the focus
    ui.wait_text("#pair-header h3", f"Pair {first + 2} ")
    skipped, labelled = review_of(db, first), review_of(db, first + 1)
    assert skipped is not None and skipped.label == "skip" and skipped.reason == "no context given"
    assert labelled is not None and labelled.label == "B"
    # ...after saving tags and a note with their keys, and after a button press.
    ui.page.keyboard.press("g")
    ui.page.keyboard.type("hard")
    ui.page.keyboard.press("Escape")  # out of the box, and the keys act again
    ui.page.keyboard.press("n")
    ui.page.keyboard.type("long prompt")
    ui.page.keyboard.press("Control+Enter")
    ui.wait_text("#review-message", f"Saved pair {first + 2}.")  # the save answered: the next key starts from it
    ui.page.keyboard.press("a")
    ui.wait_text("#pair-header h3", f"Pair {first + 3} ")
    tagged = review_of(db, first + 2)
    assert tagged is not None and tagged.tags == ["hard"] and tagged.note == "long prompt" and tagged.label == "A"
    ui.page.click("#key-prev")
    ui.wait_text("#pair-header h3", f"Pair {first + 2} ")
    ui.page.keyboard.press("j")  # the focused button keeps Enter and Space, not the letters
    ui.wait_text("#pair-header h3", f"Pair {first + 3} ")
    # 5. The page remembers the dataset this browser chose, across a reload.
    gram("import", str(FIXTURES / "trl_standard.jsonl"), "--dataset", "second")
    kept = "() => localStorage.getItem('gram-studio-review-dataset')"
    before = ui.page.evaluate(kept)
    ui.choose("review-dataset", "second")
    ui.wait_text("#queue-page", "second · page")
    # The choice is kept in this browser's storage once its event has answered.
    ui.page.wait_for_function(f"before => ({kept})() !== before", arg=before)
    ui.page.reload()
    ui.page.wait_for_selector("#pair-header h3", timeout=60_000)
    ui.wait_text("#queue-page", "second · page")
    assert not ui.errors, ui.errors


def test_text_shows_as_written_versions_are_steered_and_the_import_folder_is_named(
    fresh_studio: str, browser: object, db: Database, gram_home: Path
) -> None:
    poem = "Roses are red,\nviolets are blue;\n- one\n- two"
    with db.session() as session:
        pair = session.scalars(select(Pair).order_by(Pair.id)).first()
        assert pair is not None
        pair.response_a = poem
        pair_id = pair.id
    gram("models", "default")  # the shipped head, on request: a version to roll back from
    ui = Studio(browser, fresh_studio, "ana", "first-hour-2", viewport=LAPTOP)
    ui.open_dataset("demo")
    ui.wait_text("#pair-header h3", f"Pair {pair_id} ")
    # 4. A single line break is a line break.
    html = ui.page.inner_html("#response-a")
    assert "red,<br" in html, html
    # 7. Adjudication shows the pair beside every person's label.
    with db.session() as session:
        save_review(session, pair_id, reviewer="ana", label="A")
        save_review(session, pair_id, reviewer="ben", label="B")
    ui.tab("Team")
    ui.choose("team-dataset", "demo")
    ui.page.fill("#adjudicate-pair input", str(pair_id))
    ui.page.press("#adjudicate-pair input", "Enter")
    ui.wait_text("#adjudicate-reviews", "ben")
    reviews = ui.text("#adjudicate-reviews")
    assert "Prompt" in reviews and "Response A" in reviews and "violets are blue" in reviews, reviews
    # 8. The import folder exists from the first start, and the page says where it is.
    imports = gram_home / "imports"
    assert imports.is_dir()
    ui.tab("Datasets")
    ui.wait_text("#import-path", str(imports))
    # 6. Roll back asks first; the default judge is activated again from the studio.
    ui.tab("Adapt")
    ui.page.click("#adapt-rollback")
    ui.wait_text("#adapt-confirm-text", "Roll back from")
    ui.wait_text("#studio-header", "default-judge")  # only asked
    ui.page.click("#adapt-confirm")
    ui.wait_text("#adapt-message", "Active:")
    header = ui.text("#studio-header")
    assert "default-judge" not in header, header
    ui.choose("version-pick", "default-judge")
    ui.page.click("#version-activate")
    ui.wait_text("#adapt-confirm-text", "Activate")
    ui.page.click("#adapt-confirm")
    ui.wait_text("#studio-header", "model: default-judge", timeout=10_000)
    ui.shot("version-steered")
    # 7. A session that ended says so once, instead of an error on every component.
    cookies = ui.page.context.cookies()
    ui.page.context.clear_cookies()
    ui.page.click("#adapt-activate")
    ui.wait_text("#signed-out", "You were signed out", timeout=20_000)
    ui.page.context.add_cookies(cookies)  # type: ignore[arg-type]
    # 7. Signing out happens in the same tab.
    pages = len(ui.page.context.pages)
    ui.page.locator("#studio-header a", has_text="log out").click()
    ui.page.wait_for_selector("input[type=password]", timeout=30_000)
    assert len(ui.page.context.pages) == pages
    assert not ui.errors, ui.errors
