"""The Review page as a person works it, in a real headless Chromium at a laptop's 1366x768:
one screen per pair (issue 11, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.review.queue import QUEUE_COLUMNS
from storage.database import Database
from storage.tables import Judgment
from tests.browser import ARTIFACTS, Studio, first_pair_id, queue_row, review_of
from tests.conftest import FIXTURES
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


def test_the_review_page_fits_one_laptop_screen_with_every_judgment_reachable(
    studio: str, browser: object, db: Database, embedded_model_dir: Path
) -> None:
    # Two verdicts with their rationales, then a fast score of the first pair (its latest judgment).
    model = ("--model", str(embedded_model_dir))
    gram("judge", "demo", "--limit", "2", "--max-new-tokens", "48", *model)
    gram("judge", "demo", "--fast", "--limit", "1", *model)
    ui = Studio(browser, studio, "ana", "one-screen", viewport=LAPTOP)
    ui.open_dataset("demo")
    first = first_pair_id(ui)
    with db.session() as session:
        generative = session.scalars(
            select(Judgment).where(Judgment.pair_id == first, Judgment.protocol == "gram-r2")
        ).one()
    # The queue says whose verdict it lists; the fast score does not hide the earlier rationale.
    ui.wait_text("#pair-verdict", "(label-only)")
    judged_by = QUEUE_COLUMNS.index("judged by")
    assert queue_row(ui, first)[judged_by].endswith("(label-only)"), queue_row(ui, first)
    ui.choose("judgment-select", "gram-r2")
    ui.wait_text("#pair-verdict", "(gram-r2)")
    assert ui.page.input_value("#rationale-box textarea") == (generative.rationale or "")
    assert "1 other judgment" in ui.text("#pair-verdict")

    assert not _off_screen(ui), _off_screen(ui)
    a, b = (ui.page.locator(side).bounding_box() for side in ("#response-a", "#response-b"))
    assert a and b and abs(a["y"] - b["y"]) < 1 and a["x"] + a["width"] <= b["x"], (a, b)  # side by side
    ui.wait_text("#review-progress", "0 / 400 reviewed, 0 by ana")
    ui.page.screenshot(path=str(ARTIFACTS / "review-page-1366x768.png"))

    # Scrolled down to the rationale box, the action bar stays in view; accepting the verdict shown
    # records that judgment and moves to the next pair, brought into view.
    ui.page.mouse.wheel(0, 900)
    ui.page.wait_for_timeout(300)
    assert ui.page.evaluate("window.scrollY") > 200
    bar = ui.page.locator("#review-actions").bounding_box()
    assert bar and bar["y"] >= 0 and bar["y"] + bar["height"] <= LAPTOP[1] + 0.5, bar
    ui.page.locator("#key-accept").click()
    ui.wait_text("#pair-header h3", f"Pair {first + 1} ")
    wait_for(lambda: not _off_screen(ui), seconds=10, what="the next pair in view", interval=0.2)
    ui.wait_text("#review-progress", "1 / 400 reviewed, 1 by ana")
    saved = review_of(db, first)
    assert saved is not None and (saved.label, saved.judgment_id) == (generative.label, generative.id)
    assert saved.rationale_seen is True  # the rationale box was on screen: it may become a training target
    # The next pair's rationale, where the page opens it, is on screen or not; the review says which.
    box = ui.page.locator("#rationale-box textarea").bounding_box()
    assert box is not None and ui.page.input_value("#rationale-box textarea")
    on_screen = box["y"] + min(box["height"], 40) <= LAPTOP[1]
    ui.page.wait_for_timeout(400)  # the page's script looks every 200 ms
    ui.key("a")
    ui.wait_text("#pair-header h3", f"Pair {first + 2} ")
    second = review_of(db, first + 1)
    assert second is not None and second.label == "A" and bool(second.rationale_seen) == on_screen, (box, second)
    # The keyboard's previous and next pair too.
    ui.key("k")
    ui.wait_text("#pair-header h3", f"Pair {first + 1} ")
    ui.key("j")
    ui.wait_text("#pair-header h3", f"Pair {first + 2} ")
    assert not _off_screen(ui), _off_screen(ui)
    assert not ui.errors, ui.errors


def test_blind_review_hides_the_reference_and_the_model_until_the_person_labels(
    studio: str, browser: object, db: Database, embedded_model_dir: Path
) -> None:
    gram("judge", "demo", "--fast", "--limit", "3", "--model", str(embedded_model_dir))
    ana = Studio(browser, studio, "ana", "blind-review")
    ana.open_dataset("demo")
    first = first_pair_id(ana)
    ana.wait_text("#pair-verdict", "Model:")
    reference = ana.text("#pair-header").split("reference label:")[1].split()[0]
    assert reference in ("A", "B", "tie") and queue_row(ana, first)[QUEUE_COLUMNS.index("model")] in ("A", "B")
    ana.page.click("#blind-review input")
    ana.wait_text("#pair-header", "hidden (blind review)")
    assert "Model:" not in ana.text("#pair-verdict") and "Blind review" in ana.text("#pair-verdict")
    assert ana.page.input_value("#rationale-box textarea") == ""  # no model rationale to anchor on
    hidden = [QUEUE_COLUMNS.index(c) for c in ("model", "confidence", "agrees", "consistent", "reference")]
    wait_for(lambda: [queue_row(ana, first)[i] for i in hidden] == [""] * 5, seconds=10, what="blank queue columns")
    ana.shot("blind")
    # Accepting the hidden verdict is refused; a label of her own is saved, without a judgment seen.
    ana.key("Enter")
    ana.wait_text("#review-message", "hidden in blind review")
    assert review_of(db, first) is None
    ana.key("b")
    ana.wait_text("#pair-header h3", f"Pair {first + 1} ")
    saved = review_of(db, first)
    assert saved is not None and saved.label == "B" and saved.judgment_id is None
    assert "hidden (blind review)" in ana.text("#pair-header")  # the next pair is hidden too
    # Once labelled, the pair shows what was hidden.
    ana.key("k")
    ana.wait_text("#pair-header h3", f"Pair {first} ")
    ana.wait_text("#pair-header", f"reference label: {reference}")
    assert "Model:" in ana.text("#pair-verdict")
    # The switch is hers: kept in her browser across a reload, and a colleague is not blind.
    ana.page.reload()
    ana.page.wait_for_selector("#pair-header h3", timeout=60_000)
    ana.wait_text("#pair-header h3", f"Pair {first} ")
    ana.page.wait_for_timeout(500)
    assert ana.page.is_checked("#blind-review input")
    ana.key("j")  # not labelled yet: hidden
    ana.wait_text("#pair-header h3", f"Pair {first + 1} ")
    ana.wait_text("#pair-header", "hidden (blind review)")
    ben = Studio(browser, studio, "ben", "blind-review-colleague")
    ben.wait_text("#pair-header", "reference label:")
    assert "hidden" not in ben.text("#pair-header") and not ben.page.is_checked("#blind-review input")
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_guidelines_show_beside_the_pair_and_a_skip_keeps_its_reason(
    studio: str, browser: object, db: Database
) -> None:
    ui = Studio(browser, studio, "ana", "guidelines-and-skip", viewport=LAPTOP)
    # Guidelines are written on the Datasets page (their HTML is shown as text, never run).
    ui.tab("Datasets")
    ui.choose("guide-dataset", "demo")
    ui.page.fill("#guide-text textarea", "## Judging\n\nPrefer **the cited number**.\n\n<img src=x onerror=alert(1)>")
    ui.page.click("#guide-save")
    ui.wait_text("#guide-note", "Saved the guidelines of demo")
    ui.open_dataset("demo")
    ui.wait_text("#review-guidelines h2", "Judging")
    assert "<img src=x onerror=alert(1)>" in ui.text("#review-guidelines")
    box = ui.page.locator("#review-guidelines").bounding_box()
    header = ui.page.locator("#pair-header").bounding_box()
    assert box and header and box["x"] + box["width"] <= header["x"] and box["y"] < LAPTOP[1], (box, header)
    # Skip with a reason typed beside the button (Enter), then one by key without a reason.
    first = first_pair_id(ui)
    ui.page.fill("#skip-reason textarea, #skip-reason input", "the prompt is cut off")
    ui.page.keyboard.press("Enter")
    ui.wait_text("#pair-header h3", f"Pair {first + 1} ")
    ui.key("s")
    ui.wait_text("#pair-header h3", f"Pair {first + 2} ")
    skipped, bare = review_of(db, first), review_of(db, first + 1)
    assert skipped is not None and (skipped.label, skipped.reason) == ("skip", "the prompt is cut off")
    assert bare is not None and (bare.label, bare.reason) == ("skip", "")
    wait_for(lambda: queue_row(ui, first)[1:2] == ["skipped"], seconds=10, what="the skipped row")
    ui.key("k")
    ui.key("k")
    ui.wait_text("#pair-header", "skipped as not judgeable by ana: the prompt is cut off")
    ui.wait_text("#review-progress", "2 / 400 reviewed, 2 by ana")
    ui.shot("skipped")
    assert not ui.errors and not ui.dialogs, (ui.errors, ui.dialogs)


def test_a_conversation_shows_as_turns(studio: str, browser: object) -> None:
    gram("import", str(FIXTURES / "hh_transcripts.jsonl"), "--dataset", "hh")
    ui = Studio(browser, studio, "ana", "conversation")
    ui.open_dataset("hh")
    ui.page.locator("#pair-prompt .turn").first.wait_for(timeout=30_000)
    roles = ui.page.eval_on_selector_all("#pair-prompt .turn-role", "els => els.map(e => e.innerText.trim())")
    assert len(roles) >= 3 and roles[0] == "User" and roles[1] == "Assistant", roles  # HH: several turns
    assert "Human:" not in ui.text("#pair-prompt")  # the transcript's markers became speakers
    ui.shot("turns")
    assert not ui.errors, ui.errors
