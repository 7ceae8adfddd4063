"""Explain a verdict (issue 25, item 4): for a head's or the fast path's verdict the generative
model writes a rationale for that label, kept on the judgment and shown as "written to explain the
verdict"; it becomes a training target only where a person had it on screen, and a degenerate one
is flagged, never a target."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.context import StudioContext
from app.pages.review import handlers
from app.pages.review.view import pair_values
from core.errors import GramError
from core.export.rows import export_rows
from core.model.spec import ModelSpec
from core.review.pair_view import pair_detail
from core.review.reviews import save_review
from core.review.workflow import Cursor
from core.settings import Settings
from core.train.explain import explain_judgment
from storage.database import Database
from storage.tables import Judgment, Pair
from tests import factories
from tests.fakes import SCRIPTED_SPEC, ScriptedBackend

A = "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen inside chloroplasts."
B = "Plants eat soil."
PROOF = (
    "<think>\nFeedback:\nResponse A explains photosynthesis and its products; Response B is a misconception.\n\n"
    "Comparision:\nA is accurate, B is wrong.\n\nConclusion:\nResponse A is better.\n</think>\n<answer>\nA\n</answer>"
)


def _head_verdict(session: Session) -> tuple[int, int]:
    (pair_id,) = factories.dataset(session, 1, name="x", texts=[("What is photosynthesis?", A, B)])
    orders = [{"order": o, "prob_a": 0.7, "label": "A", "head": True} for o in ("AB", "BA")]
    judgment = Judgment(
        pair_id=pair_id, model="default-judge", backend="transformers", protocol="label-only", label="A",
        confidence=0.7, prob_a=0.7, orders=orders, consistent=True,
    )  # fmt: skip
    session.add(judgment)
    session.flush()
    return pair_id, judgment.id


def test_an_explanation_is_kept_shown_as_written_for_the_verdict_and_exported_only_once_seen(
    settings: Settings, db: Database
) -> None:
    with db.session() as session:
        pair_id, judgment_id = _head_verdict(session)
    made = explain_judgment(db, settings, judgment_id, SCRIPTED_SPEC, backend=ScriptedBackend(replies=lambda _: PROOF))
    assert made.problems == [] and "Response A is better." in made.rationale
    with db.session() as session:
        judgment = session.get(Judgment, judgment_id)
        assert judgment is not None and judgment.rationale is None  # the verdict's own record is unchanged
        assert (
            judgment.explanation["rationale"] == made.rationale and judgment.explanation["model"] == SCRIPTED_SPEC.name
        )
        values = pair_values(pair_detail(session, pair_id, "ana"), blind=False, images=False)
    assert "Written to explain the verdict" in values[4] and "not an independent judgment" in values[4]
    assert values[5] == made.rationale  # the rationale box holds it, for the person to read or edit
    with db.session() as session:
        save_review(session, pair_id, reviewer="ana", label="A", judgment_id=judgment_id)
        assert not export_rows(session, "x", "sft").rows  # nobody had it on screen
        save_review(session, pair_id, reviewer="ana", judgment_id=judgment_id, rationale_seen=True)
        rows = export_rows(session, "x", "sft").rows
        assert len(rows) == 1 and made.rationale in rows[0]["completion"][0]["content"]


def test_a_degenerate_explanation_is_flagged_and_an_undecided_verdict_has_none(
    settings: Settings, db: Database
) -> None:
    with db.session() as session:
        pair_id, judgment_id = _head_verdict(session)
        undecided = Judgment(pair_id=pair_id, model="m", backend="transformers", label="tie", prob_a=0.5)
        session.add(undecided)
        session.flush()
        undecided_id = undecided.id
    loop = "<think>\nFeedback:\nThe answer is: The answer is: The answer is:\n</think>\n<answer>\nA\n</answer>"
    made = explain_judgment(db, settings, judgment_id, SCRIPTED_SPEC, backend=ScriptedBackend(replies=lambda _: loop))
    assert "it repeats itself" in made.problems and "format" in made.problems
    with db.session() as session:
        save_review(session, pair_id, reviewer="ana", label="A", judgment_id=judgment_id, rationale_seen=True)
        result = export_rows(session, "x", "sft")
        assert not result.rows and any("degenerate" in reason for reason in result.skipped)
    with pytest.raises(GramError, match="no verdict to explain"):
        explain_judgment(db, settings, undecided_id, SCRIPTED_SPEC, backend=ScriptedBackend(replies=lambda _: PROOF))


def test_the_review_page_explains_and_blind_review_waits_for_the_label(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.session() as session:
        pair_id, judgment_id = _head_verdict(session)
    scripted = ScriptedBackend(replies=lambda _: PROOF)

    def with_scripted(db_: Database, settings_: Settings, jid: int, fallback: ModelSpec) -> object:
        return explain_judgment(db_, settings_, jid, fallback, backend=scripted)

    monkeypatch.setattr(handlers, "explain_judgment", with_scripted)
    ctx = StudioContext(settings.model_copy(update={"model": "unused"}), db)
    monkeypatch.setattr(ctx, "spec", lambda: SCRIPTED_SPEC)
    with pytest.raises(GramError, match="blind review"):
        handlers.explain(ctx, Cursor(pair_id=pair_id, reviewer="ana", blind=True), judgment_id, user="ana")
    moved = handlers.explain(ctx, Cursor(pair_id=pair_id, reviewer="ana"), judgment_id, user="ana")
    assert "wrote a rationale for this verdict's label" in moved[1] and "Written to explain" in moved[2 + 4]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_embedded_model_explains_a_head_verdict(settings: Settings, db: Database, embedded_model_dir: Path) -> None:
    """The real small model writes for the label; what it writes is checked, and said to be poor
    where it is (the 135M model is a stand-in for the GRAM-R² checkpoints)."""
    with db.session() as session:
        pair_id, judgment_id = _head_verdict(session)
    spec = ModelSpec("SmolLM2-135M-Instruct", str(embedded_model_dir))
    made = explain_judgment(db, settings, judgment_id, spec, k=2, max_new_tokens=160)
    assert made.rationale.strip() and made.model == spec.name
    with db.session() as session:
        stored = session.scalars(select(Judgment).join(Pair).where(Pair.id == pair_id)).first()
        assert stored is not None and stored.explanation["rationale"] == made.rationale
        values = pair_values(pair_detail(session, pair_id, "ana"), blind=False, images=False)
    assert "Written to explain the verdict" in values[4]
    assert ("Explanation flagged" in values[4]) == bool(made.problems)
