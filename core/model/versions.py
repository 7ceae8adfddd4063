"""Model versions in the store: the base models judges ran, and the adapters training made.

One version is active at most: the model the studio and `gram` use when no --model is given.
Activation is always a person's choice (`activate`); `rollback` re-activates the parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import GramError, NotFoundError
from core.model.spec import ModelSpec, resolve_model
from core.settings import Settings
from storage.tables import Job, ModelVersion

if TYPE_CHECKING:
    from storage.database import Database


def _unique_name(session: Session, name: str) -> str:
    taken = set(session.scalars(select(ModelVersion.name).where(ModelVersion.name.startswith(name))))
    return next(
        candidate for n in range(1, len(taken) + 2) if (candidate := f"{name}-{n}" if n > 1 else name) not in taken
    )


def find_version(session: Session, spec: ModelSpec) -> ModelVersion | None:
    """The version row for `spec`, if the store has one."""
    query = select(ModelVersion).where(
        ModelVersion.base_model == spec.path,
        ModelVersion.adapter_path.is_(None) if spec.adapter is None else ModelVersion.adapter_path == spec.adapter,
        ModelVersion.head_path.is_(None) if spec.head is None else ModelVersion.head_path == spec.head,
    )
    return session.scalars(query).first()


def version_for(session: Session, spec: ModelSpec) -> ModelVersion:
    """The version row for `spec`, created (inactive) on first use."""
    version = find_version(session, spec)
    if version is None:
        version = ModelVersion(
            name=_unique_name(session, spec.name), base_model=spec.path, adapter_path=spec.adapter, head_path=spec.head
        )
        session.add(version)
        session.flush()
    return version


def version_id_for(db: Database, spec: ModelSpec) -> int:
    """`version_for` in a transaction of its own, safe against a concurrent first use: of two
    processes creating the same version, the second's insert fails on the unique name and it
    then finds the first's row."""
    for attempt in range(3):
        try:
            with db.session() as session:
                return version_for(session, spec).id
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def create_version(
    session: Session,
    name: str,
    spec: ModelSpec,
    *,
    parent: ModelVersion | None,
    job_id: int | None,
    config: dict[str, Any],
    metrics: dict[str, Any],
    exact_name: bool = False,
) -> ModelVersion:
    """A trained version (inactive until someone activates it), named `name` or, where that is
    taken, `name-2` and so on; with `exact_name`, `name` or an IntegrityError."""
    version = ModelVersion(
        name=name if exact_name else _unique_name(session, name),
        base_model=spec.path,
        adapter_path=spec.adapter,
        head_path=spec.head,
        parent_id=parent.id if parent else None,
        training_job_id=job_id,
        config=config,
        metrics=metrics,
    )
    session.add(version)
    session.flush()
    return version


def spec_of(version: ModelVersion) -> ModelSpec:
    return ModelSpec(version.name, version.base_model, version.adapter_path, version.head_path)


def active_version(session: Session) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.is_active)).first()


def get_version(session: Session, name_or_id: str | int) -> ModelVersion:
    query = select(ModelVersion).where(
        ModelVersion.id == int(name_or_id) if str(name_or_id).isdigit() else ModelVersion.name == str(name_or_id)
    )
    version = session.scalars(query).first()
    if version is None:
        raise NotFoundError(f"no model version '{name_or_id}' (see `gram models`)")
    return version


def activate(session: Session, version: ModelVersion) -> ModelVersion:
    """Make `version` the one active version (one statement, so never two at once)."""
    session.execute(update(ModelVersion).values(is_active=ModelVersion.id == version.id))
    session.refresh(version)
    return version


def rollback_target(session: Session) -> tuple[str, str] | None:
    """(the active version's name, its parent's) where a roll back has somewhere to go, else None."""
    active = active_version(session)
    parent = session.get(ModelVersion, active.parent_id) if active is not None and active.parent_id else None
    return (active.name, parent.name) if active is not None and parent is not None else None


def rollback(session: Session) -> ModelVersion:
    """Re-activate the active version's parent."""
    current = active_version(session)
    if current is None or current.parent_id is None:
        raise GramError("nothing to roll back to: the active version has no parent")
    return activate(session, get_version(session, current.parent_id))


def current_spec(
    session: Session, settings: Settings, model: str | None = None, adapter: str | None = None
) -> ModelSpec:
    """What to run: --model/--adapter if given, else the active version, else the settings' model."""
    if model is None and adapter is None and (version := active_version(session)) is not None:
        return spec_of(version)
    return resolve_model(settings, model, adapter)


@dataclass(frozen=True)
class VersionSummary:
    """One line of `gram models` and of the studio's version list."""

    id: int
    name: str
    is_active: bool
    parent_id: int | None
    held_out_accuracy: float | None  # after adaptation, on its held-out reviewed pairs
    held_out_n: int
    kind: str = "base"  # base, adapter, full (a fine-tuned folder) or head
    held_out_ci: tuple[float, float] | None = None  # the accuracy's Wilson 95% interval

    def line(self) -> str:
        parent = f"  parent {self.parent_id}" if self.parent_id else ""
        accuracy = ""
        if self.held_out_accuracy is not None and self.held_out_n:
            ci = f"95% CI {self.held_out_ci[0]:.2f}-{self.held_out_ci[1]:.2f}, " if self.held_out_ci else ""
            accuracy = f"  held-out accuracy {self.held_out_accuracy:.3f} ({ci}n={self.held_out_n})"
        return f"{'*' if self.is_active else ' '} {self.id:4} {self.name}  [{self.kind}]{parent}{accuracy}"


def _kind(version: ModelVersion) -> str:
    if version.head_path:
        return "head"
    if version.adapter_path:
        return "adapter"
    return "full" if version.training_job_id else "base"


def list_versions(session: Session) -> list[VersionSummary]:
    """Every model version, oldest first."""
    out = []
    for v in session.scalars(select(ModelVersion).order_by(ModelVersion.id)):
        after = (v.metrics or {}).get("after", {})
        ci = after.get("accuracy_ci")
        out.append(
            VersionSummary(
                v.id,
                v.name,
                v.is_active,
                v.parent_id,
                after.get("accuracy"),
                after.get("n", 0),
                _kind(v),
                (ci[0], ci[1]) if ci else None,
            )
        )
    return out


def activate_job_result(session: Session, job: Job) -> ModelVersion:
    """Activate the model version a training job made."""
    version_id = (job.result or {}).get("version_id")
    if version_id is None:
        raise GramError(f"job {job.id} made no model version yet (status {job.status})")
    return activate(session, get_version(session, version_id))


def record_current(session: Session, settings: Settings) -> ModelVersion:
    """Record the model in use as a version, so there is a parent to adapt from and to show."""
    return version_for(session, current_spec(session, settings))
