"""Rationales that are what they claim (issue 25, item 4): degenerate rationales are told apart and
flagged, and a model rationale becomes a training target (SFT export, adaptation) only where a
person who chose its label had it on screen, from the judgment they saw, and it is not degenerate."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.context import StudioContext
from app.pages.review import handlers
from app.pages.review.view import pair_values
from core.export.rows import export_rows
from core.judge.rationale_checks import rationale_problems
from core.review.pair_view import pair_detail
from core.review.queue import QueueFilter
from core.review.reviews import save_review
from core.review.workflow import Cursor, QueueState, open_queue
from core.settings import Settings
from core.train.split import reviewed_pairs
from storage.database import Database
from storage.tables import Judgment
from tests import factories

A = "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen inside chloroplasts."
B = "Plants eat soil."
GOOD = (
    "Feedback:\nResponse A explains photosynthesis with its inputs and outputs; Response B is wrong.\n\n"
    "Comparision:\nA is accurate and complete, B is a misconception.\n\n"
    "Conclusion:\nResponse A is better."
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("Feedback:\n\nComparision:\n\nConclusion:\n", "feedback section is empty"),
        ("Feedback: The answer is: The answer is: The answer is:\nComparision: x y z\nConclusion: a b c", "repeats"),
        (
            "Feedback: " + "the response is good and the response is good and " * 12 + "\nComparision: fine fine fine"
            "\nConclusion: done and done",
            "repeats",
        ),
        (
            "Feedback:\nThe weather is lovely today in the city.\n\nComparision:\nBoth mention nothing at all here."
            "\n\nConclusion:\nIt rains often in spring time.",
            "refers to neither response",
        ),
        (GOOD.replace("Response A is better.", "Response B is better."), "names response B, not the verdict A"),
    ],
)
def test_degenerate_rationales_are_told_apart(text: str, words: str) -> None:
    assert any(words in problem for problem in rationale_problems(text, A, B, "A")), rationale_problems(text, A, B, "A")


def test_a_rationale_worth_reading_has_no_problem() -> None:
    assert rationale_problems(GOOD, A, B, "A") == []
    by_content = GOOD.replace("Response A", "The first").replace("A is", "The first is").replace("B is", "It")
    assert "it refers to neither response" not in rationale_problems(by_content, A, B, "A")


def _pair_with_judgments(session: Session, *rationales: str) -> tuple[int, list[int]]:
    (pair_id,) = factories.dataset(session, 1, name="r", texts=[("What is photosynthesis?", A, B)])
    ids = []
    for text in rationales:
        judgment = Judgment(
            pair_id=pair_id, model="m", backend="transformers", protocol="gram-r2", label="A", confidence=0.8,
            prob_a=0.8, rationale=text,
        )  # fmt: skip
        session.add(judgment)
        session.flush()
        ids.append(judgment.id)
    return pair_id, ids


def test_sft_takes_a_model_rationale_only_from_the_judgment_on_screen(session: Session) -> None:
    pair_id, (seen, newer) = _pair_with_judgments(session, GOOD, GOOD.replace("is better", "wins"))
    save_review(session, pair_id, reviewer="ana", label="A", judgment_id=seen)  # not on screen
    result = export_rows(session, "r", "sft")
    assert not result.rows and result.skipped["with a model rationale nobody had on screen when choosing the label"]
    assert reviewed_pairs(session, session.get(Judgment, seen).pair.dataset_id)[0].rationale is None  # nor trained on
    save_review(session, pair_id, reviewer="ana", judgment_id=seen, rationale_seen=True)
    rows = export_rows(session, "r", "sft").rows
    assert len(rows) == 1 and GOOD in rows[0]["completion"][0]["content"]  # the one seen, not the newer one
    save_review(session, pair_id, reviewer="ana", judgment_id=newer)  # another judgment: nothing seen of it yet
    assert not export_rows(session, "r", "sft").rows


def test_a_degenerate_model_rationale_is_never_a_target(session: Session) -> None:
    pair_id, (loop,) = _pair_with_judgments(session, "Feedback:\nThe answer is: The answer is: The answer is:")
    save_review(session, pair_id, reviewer="ana", label="A", judgment_id=loop, rationale_seen=True)
    result = export_rows(session, "r", "sft")
    assert not result.rows and any("degenerate model rationale" in reason for reason in result.skipped)
    assert reviewed_pairs(session, session.get(Judgment, loop).pair.dataset_id)[0].rationale is None
    save_review(session, pair_id, reviewer="ana", rationale=GOOD)  # a person's own words are theirs
    assert len(export_rows(session, "r", "sft").rows) == 1


def test_the_review_page_records_whether_the_rationale_was_on_screen_and_flags_a_bad_one(
    settings: Settings, db: Database
) -> None:
    with db.session() as session:
        pair_id, (loop,) = _pair_with_judgments(session, "Feedback:\n\nComparision:\n\nConclusion:\n")
    ctx = StudioContext(settings.model_copy(update={"model": "unused"}), db)
    queue, _ = open_queue(db, QueueFilter("r", reviewer="ana"), 0)
    cursor = Cursor(pair_id=pair_id, reviewer="ana")
    handlers.set_label(ctx, queue, cursor, "A", loop, "seen", choice=None, user="ana")
    with db.session() as session:
        detail = pair_detail(session, pair_id, "ana")
        review = next(r for r in session.get(Judgment, loop).pair.reviews if r.reviewer == "ana")
        assert review.rationale_seen is True and review.judgment_id == loop
    verdict = pair_values(detail, blind=False, images=False)[4]
    assert "Rationale flagged" in verdict and "feedback section is empty" in verdict
    assert isinstance(queue, QueueState)
