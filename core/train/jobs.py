"""Starting a training job: what adaptation and self-training share before their own work begins."""

from __future__ import annotations

from typing import Any

from core.data.datasets import get_dataset
from core.jobs.claims import Runner, claim_job, create_or_find, work_key
from core.jobs.lifecycle import Claimed
from core.model.versions import current_spec, version_for
from core.settings import Settings
from core.vocab import JobKind
from storage.database import Database


def start_training_job(
    db: Database, settings: Settings, kind: JobKind, dataset: str, config: dict[str, Any], *, owner: str | None = None
) -> int:
    """Create (or find the unfinished one with the same settings) the job that trains the model in
    use on `dataset`; returns its id. The job's config names that model as the parent version."""
    with db.session() as session:
        dataset_id = get_dataset(session, dataset).id
        parent = version_for(session, current_spec(session, settings))
        job_config = {kind.value: config, "parent_version": parent.id}
    return create_or_find(db, kind, work_key(kind, dataset_id, job_config), job_config, dataset_id, owner=owner)[0]


def claim_training(db: Database, settings: Settings, job_id: int) -> Claimed:
    """Claim training job `job_id` for this process (a worker, or `gram adapt` itself); JobBusy
    if another live process runs it."""
    runner = Runner.of_process()
    claim_job(db, job_id, runner, timeout_s=settings.job_timeout_s)
    return Claimed(db, job_id, runner, settings.job_timeout_s)
