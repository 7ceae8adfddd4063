"""Model versions: one per base model and adapter, names unique; activation and rollback."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.model.spec import ModelSpec
from core.model.versions import version_for


def test_one_version_per_model_and_adapter(session: Session) -> None:
    first = version_for(session, ModelSpec("SmolLM2", "/models/a/SmolLM2"))
    again = version_for(session, ModelSpec("SmolLM2", "/models/a/SmolLM2"))
    other = version_for(session, ModelSpec("SmolLM2", "/models/b/SmolLM2"))
    adapted = version_for(session, ModelSpec("SmolLM2+1", "/models/a/SmolLM2", adapter="/adapters/1"))
    assert again.id == first.id
    assert [v.name for v in (first, other, adapted)] == ["SmolLM2", "SmolLM2-2", "SmolLM2+1"]
    assert not any(v.is_active for v in (first, other, adapted))  # activation is a person's choice


def test_activate_and_rollback_keep_one_active_version(session: Session) -> None:
    from core.model.versions import activate, active_version, create_version, rollback, spec_of

    base = version_for(session, ModelSpec("SmolLM2", "/models/a/SmolLM2"))
    activate(session, base)
    child = create_version(
        session,
        "SmolLM2-adapt",
        ModelSpec("x", "/models/a/SmolLM2", adapter="/adapters/2"),
        parent=base,
        job_id=None,
        config={"lr": 1},
        metrics={},
    )
    assert active_version(session).id == base.id  # a new version waits to be activated
    activate(session, child)
    assert active_version(session).id == child.id and not base.is_active
    assert spec_of(child) == ModelSpec("SmolLM2-adapt", "/models/a/SmolLM2", "/adapters/2")
    assert rollback(session).id == base.id
    assert [v.id for v in (base, child) if v.is_active] == [base.id]


def test_any_version_is_activated_from_the_studio_and_a_roll_back_asks_first(settings, db) -> None:  # noqa: ANN001
    """Issue 26, item 6: after a roll back the default judge (any version) is activated from the
    Adapt page, each change asked first; the queue's page line names the model in use."""
    import pytest

    from app.context import StudioContext
    from app.pages import adapt as adapt_page
    from core.errors import GramError
    from core.model.versions import activate, active_version
    from storage.tables import ModelVersion

    with db.session() as session:
        base = ModelVersion(name="untrained", base_model="/m")
        session.add(base)
        session.flush()
        judge = ModelVersion(name="default-judge", base_model="/m", head_path="/h", parent_id=base.id)
        session.add(judge)
        session.flush()
        activate(session, judge)
    ctx = StudioContext(settings, db)
    question, row, pending = adapt_page.ask_rollback(ctx, user="local")
    question = question.replace("\\", "")  # the names are Markdown-escaped
    assert "from **default-judge** to **untrained**" in question and pending == ("rollback", None)
    with db.session() as session:
        assert active_version(session).name == "default-judge"  # type: ignore[union-attr]  # only asked
    said = adapt_page.confirmed(ctx, pending, None, None)[0]
    assert "untrained" in said
    with pytest.raises(GramError, match="no parent"):
        adapt_page.ask_rollback(ctx, user="local")
    question, _, pending = adapt_page.ask_version(ctx, "default-judge", user="local")
    question = question.replace("\\", "")
    assert "Activate **default-judge**" in question and "replaces **untrained**" in question
    adapt_page.confirmed(ctx, pending, None, None)
    with db.session() as session:
        assert active_version(session).name == "default-judge"  # type: ignore[union-attr]
    assert "default-judge" in adapt_page.version_names(ctx)["choices"]
    from app.pages.review import handlers
    from core.review.queue import QueueFilter
    from core.review.workflow import Cursor, open_queue
    from tests import factories

    with db.session() as session:
        factories.dataset(session, 3, name="q")
    state, rows = open_queue(db, QueueFilter("q"), 0)
    page_line = handlers._opened(ctx, state, rows, Cursor())[2].replace("\\", "")
    assert "model in use: **default-judge**" in page_line
