"""Model versions in the store: the base model each judge ran, and (later) trained adapters."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ModelSpec
from storage.models import ModelVersion


def version_for(session: Session, spec: ModelSpec) -> ModelVersion:
    """The version row for `spec`, created on first use (active if no other version is)."""
    query = select(ModelVersion).where(
        ModelVersion.base_model == spec.path,
        ModelVersion.adapter_path.is_(None) if spec.adapter is None else ModelVersion.adapter_path == spec.adapter,
    )
    version = session.scalars(query).first()
    if version is None:
        any_active = session.scalar(select(ModelVersion.id).where(ModelVersion.is_active))
        name = spec.name if spec.adapter is None else f"{spec.name}+{spec.adapter}"
        taken = set(session.scalars(select(ModelVersion.name).where(ModelVersion.name.startswith(name))))
        suffix = next(n for n in range(1, len(taken) + 2) if (f"{name}-{n}" if n > 1 else name) not in taken)
        version = ModelVersion(
            name=f"{name}-{suffix}" if suffix > 1 else name,
            base_model=spec.path,
            adapter_path=spec.adapter,
            is_active=any_active is None,
        )
        session.add(version)
        session.flush()
    return version
