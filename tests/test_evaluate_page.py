"""The Evaluate page in a real headless Chromium: a real reliability diagram, a confusion matrix
with every reference label, and models compared side by side (issue 11, item 15)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from storage.database import Database
from storage.tables import Dataset, Judgment, Pair
from tests.browser import Studio

pytestmark = pytest.mark.slow


def _judge_by_hand(db: Database) -> dict[str, tuple[int, int]]:
    """Two models' stored verdicts on the first 40 demo pairs; (right, scored) per model."""
    tally = {"judge-one": [0, 0], "judge-two": [0, 0]}
    with db.session() as session:
        pairs = session.scalars(
            select(Pair).join(Dataset).where(Dataset.name == "demo").order_by(Pair.id).limit(40)
        ).all()
        for i, pair in enumerate(pairs):
            flipped = {"A": "B", "B": "A"}.get(pair.reference_label or "", "A")
            one = flipped if i % 4 == 0 else (pair.reference_label if pair.reference_label in ("A", "B") else "B")
            for model, label, confidence in (("judge-one", one, 0.55 + (i % 9) / 20), ("judge-two", "A", 0.8)):
                prob_a = confidence if label == "A" else 1 - confidence
                session.add(
                    Judgment(
                        pair_id=pair.id,
                        model=model,
                        backend="transformers",
                        protocol="label-only",
                        label=label,
                        confidence=confidence,
                        prob_a=prob_a,
                    )
                )
                if pair.reference_label in ("A", "B"):
                    tally[model][0] += label == pair.reference_label
                    tally[model][1] += 1
    return {model: (right, n) for model, (right, n) in tally.items()}


def test_reliability_diagram_confusion_matrix_and_models_side_by_side(
    studio: str, browser: object, db: Database
) -> None:
    expected = _judge_by_hand(db)
    ui = Studio(browser, studio, "ana", "evaluate-page")
    ui.tab("Evaluate")
    ui.choose("eval-dataset", "demo")
    ui.page.wait_for_timeout(800)  # the model list follows the dataset
    ui.choose("eval-model", "judge-one")
    ui.page.click("#eval-run")
    ui.wait_text("#eval-summary", "Against reference labels")
    right, n = expected["judge-one"]
    assert f"on {n}" in ui.text("#eval-summary")
    # A real plot: numeric axes from 0 to 1, the diagonal, and each bin's count adding up to n.
    svg = ui.page.locator("#eval-reliability svg")
    texts = svg.locator("text").all_text_contents()
    assert texts.count("0.0") == 2 and texts.count("1.0") == 2, texts
    assert svg.locator("#diagonal").count() == 1
    counts = [int(m.group(1)) for t in texts if (m := re.fullmatch(r"n=(\d+)", t.strip()))]
    assert sum(counts) == n and len(counts) >= 2, texts
    # Every reference label is a row of the confusion matrix, ties and unlabelled pairs included.
    table = ui.text("#eval-confusion")
    assert all(re.search(rf"^\s*{label}\b", table, re.M) for label in ("A", "B", "tie", "none")), table
    ui.shot("evaluated")
    # Two models side by side, with their accuracy as computed by hand.
    ui.page.click("#compare-models input")
    ui.page.locator("ul[role=listbox] li", has_text="judge-one").first.click()
    ui.page.click("#compare-models input")
    ui.page.locator("ul[role=listbox] li", has_text="judge-two").first.click()
    ui.page.click("#compare-run")
    ui.wait_text("#compare-table", "judge-two")
    rows = ui.page.eval_on_selector_all(
        "#compare-table [role=row]",
        "rows => rows.map(r => Array.from(r.querySelectorAll('[data-col]')).map(c => c.innerText.trim()))",
    )
    shown = {cells[0]: cells for cells in rows if cells and cells[0].startswith("judge-")}
    for model, (right, n) in expected.items():
        assert shown[model][1] == str(n) and float(shown[model][2]) == pytest.approx(right / n, abs=0.0005), shown
    ui.shot("compared")
    assert not ui.errors, ui.errors
