"""The Datasets page in a real headless Chromium: formats listed, the file's columns offered to
the column mapping, and messages in the studio's words, not the command line's (issue 11, item 16);
bulk acceptance of reference labels, renaming and deleting (item 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.settings import Settings
from storage.database import Database
from storage.tables import Pair, Review
from tests.browser import Studio

pytestmark = pytest.mark.slow


def test_the_column_mapping_offers_the_files_columns_and_messages_name_the_studios_fields(
    studio: str, browser: object, tmp_path: Path
) -> None:
    rows = [
        {"question": f"What is {i} + {i}?", "answer1": str(2 * i), "answer2": "" if i == 2 else "no idea"}
        for i in range(1, 6)
    ]
    data = tmp_path / "quiz.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ui = Studio(browser, studio, "ana", "datasets-page")
    ui.tab("Datasets")
    ui.page.get_by_text("Formats", exact=True).click()
    ui.wait_text("#import-formats", "trl-preference")
    ui.page.set_input_files("#import-files input[type=file]", str(data))
    ui.page.click("#import-preview")
    # Not recognised: the message points at the studio's mapping, and the columns are offered.
    ui.page.get_by_text("the column mapping (field=column)").first.wait_for(timeout=30_000)
    assert not ui.page.get_by_text("--map").count()
    for field, column in (("prompt", "question"), ("response_a", "answer1"), ("response_b", "answer2")):
        ui.choose("map-field", field)
        ui.choose("map-column", column)
        ui.page.click("#map-add")
        ui.page.wait_for_timeout(300)
    assert ui.page.input_value("#import-mapping textarea").splitlines() == [
        "prompt=question",
        "response_a=answer1",
        "response_b=answer2",
    ]
    ui.page.click("#import-preview")
    ui.wait_text("#import-detected", "pairwise")
    # The empty response is rejected with the studio's own words for keeping it.
    ui.wait_text("#import-rejected", "keep pairs with an empty response")
    assert "--allow-empty" not in ui.text("#import-rejected")
    ui.shot("mapped")
    assert not ui.errors, ui.errors


def test_reference_labels_accepted_in_bulk_then_the_dataset_renamed_and_deleted_after_a_dump(
    studio: str, browser: object, db: Database, settings: Settings
) -> None:
    ui = Studio(browser, studio, "ana", "dataset-lifecycle")
    # Bulk: the demo arrives labelled; ana takes its reference labels as her reviews (pressed twice).
    ui.page.get_by_text("Bulk actions on every pair of this filter").click()
    ui.page.click("#bulk-accept")
    ui.wait_text("#review-message", "Press again to do it")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 0  # a first press changes nothing
    ui.page.click("#bulk-accept")
    ui.wait_text("#review-message", "400 pairs changed")
    with db.session() as session:
        reviews = session.execute(select(Review.reviewer, Review.label, Pair.reference_label).join(Pair)).all()
    assert len(reviews) == 400 and all(who == "ana" and label == ref for who, label, ref in reviews)
    # Rename, then delete: the wrong name refuses; the right one saves a full dump first.
    ui.tab("Datasets")
    ui.choose("manage-dataset", "demo")
    ui.page.fill("#rename-to textarea, #rename-to input", "llmbar natural")
    ui.page.click("#rename-button")
    ui.wait_text("#manage-note", "Renamed demo to llmbar natural")
    ui.wait_text("#datasets-table", "llmbar natural")
    ui.page.fill("#delete-confirm textarea, #delete-confirm input", "demo")
    ui.page.click("#delete-button")
    ui.page.get_by_text("type the dataset's name, llmbar natural").first.wait_for(timeout=30_000)
    ui.page.fill("#delete-confirm textarea, #delete-confirm input", "llmbar natural")
    ui.page.click("#delete-button")
    ui.wait_text("#manage-note", "Deleted 'llmbar natural': 400 pairs")
    assert "400 reviews" in ui.text("#manage-note")
    ui.page.locator("#deleted-dump a").first.wait_for(timeout=30_000)
    ui.shot("deleted")
    dumps = list((settings.exports_dir / "deleted").glob("*.jsonl"))
    assert len(dumps) == 1
    rows = [json.loads(line) for line in dumps[0].read_text().splitlines()]
    assert len(rows) == 400 and sum(len(r["reviews"]) for r in rows) == 400
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Pair)) == 0
    assert not ui.errors, ui.errors
