"""Starting a training job: what adaptation and self-training share before their own work begins."""

from __future__ import annotations

from typing import Any

from core.data.datasets import get_dataset
from core.jobs.records import create_job, find_resumable
from core.model.versions import current_spec, version_for
from core.settings import Settings
from core.vocab import JobKind
from storage.database import Database


def start_training_job(db: Database, settings: Settings, kind: JobKind, dataset: str, config: dict[str, Any]) -> int:
    """Create the job (or find the resumable one with the same settings) that trains the model in use
    on `dataset`; returns its id. The job's config names that model as the parent version."""
    with db.session() as session:
        dataset_id = get_dataset(session, dataset).id
        parent = version_for(session, current_spec(session, settings))
        job_config = {kind.value: config, "parent_version": parent.id}
        job = find_resumable(session, kind, job_config, dataset_id) or create_job(session, kind, job_config, dataset_id)
        return job.id
