"""The Datasets page in a real headless Chromium: formats listed, the file's columns offered to
the column mapping, and messages in the studio's words, not the command line's (issue 11, item 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
