"""The Review page as a person works it, in a real headless Chromium at a laptop's 1366x768:
one screen per pair (issue 11, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.database import Database
from tests.browser import ARTIFACTS, Studio, first_pair_id, review_of
from tests.helpers import gram_output as gram
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

LAPTOP = (1366, 768)
ONE_SCREEN = ("#pair-header", "#pair-prompt", "#response-a", "#response-b", "#pair-verdict", "#review-actions")


def _off_screen(ui: Studio) -> dict[str, dict[str, float]]:
    """The parts of the pair view that are not wholly inside the window, with their boxes."""
    boxes = {selector: ui.page.locator(selector).bounding_box() for selector in ONE_SCREEN}
    return {
        selector: box
        for selector, box in boxes.items()
        if box is None or box["y"] < 0 or box["y"] + box["height"] > LAPTOP[1] + 0.5 or box["height"] < 10
    }


def test_the_review_page_fits_one_laptop_screen(
    studio: str, browser: object, db: Database, embedded_model_dir: Path
) -> None:
    # Two verdicts with their rationales.
    gram("judge", "demo", "--limit", "2", "--max-new-tokens", "48", "--model", str(embedded_model_dir))
    ui = Studio(browser, studio, "ana", "one-screen", viewport=LAPTOP)
    ui.open_dataset("demo")
    ui.wait_text("#pair-verdict", "Rationale")
    first = first_pair_id(ui)
    assert not _off_screen(ui), _off_screen(ui)
    a, b = (ui.page.locator(side).bounding_box() for side in ("#response-a", "#response-b"))
    assert a and b and abs(a["y"] - b["y"]) < 1 and a["x"] + a["width"] <= b["x"], (a, b)  # side by side
    ui.wait_text("#review-progress", "0 / 400 reviewed, 0 by ana")
    ui.page.screenshot(path=str(ARTIFACTS / "review-page-1366x768.png"))

    # Scrolled down to the rationale box, the action bar stays in view; a label moves to the next
    # pair and brings it into view.
    ui.page.mouse.wheel(0, 900)
    ui.page.wait_for_timeout(300)
    assert ui.page.evaluate("window.scrollY") > 200
    bar = ui.page.locator("#review-actions").bounding_box()
    assert bar and bar["y"] >= 0 and bar["y"] + bar["height"] <= LAPTOP[1] + 0.5, bar
    ui.page.locator("#key-b").click()
    ui.wait_text("#pair-header h3", f"Pair {first + 1} ")
    wait_for(lambda: not _off_screen(ui), seconds=10, what="the next pair in view", interval=0.2)
    ui.wait_text("#review-progress", "1 / 400 reviewed, 1 by ana")
    saved = review_of(db, first)
    assert saved is not None and saved.label == "B"
    # The keyboard's next pair too.
    ui.key("j")
    ui.wait_text("#pair-header h3", f"Pair {first + 2} ")
    assert not _off_screen(ui), _off_screen(ui)
    assert not ui.errors, ui.errors
