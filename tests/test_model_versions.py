"""Model versions: one per base model and adapter, the first one active, names unique."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.model_versions import version_for
from core.models import ModelSpec


def test_one_version_per_model_and_adapter(session: Session) -> None:
    first = version_for(session, ModelSpec("SmolLM2", "/models/a/SmolLM2"))
    again = version_for(session, ModelSpec("SmolLM2", "/models/a/SmolLM2"))
    other = version_for(session, ModelSpec("SmolLM2", "/models/b/SmolLM2"))
    adapted = version_for(session, ModelSpec("SmolLM2", "/models/a/SmolLM2", adapter="/adapters/1"))
    assert again.id == first.id
    assert [v.name for v in (first, other, adapted)] == ["SmolLM2", "SmolLM2-2", "SmolLM2+/adapters/1"]
    assert [v.is_active for v in (first, other, adapted)] == [True, False, False]
