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
