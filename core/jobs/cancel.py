"""Asking a job to stop: a flag its runner reads after each step, or at once when nobody runs it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.jobs.batches import cancel_if_unworked, is_split
from core.jobs.claims import Runner
from core.jobs.lifecycle import finish, get_job, latest_job
from core.vocab import ACTIVE, JobKind, JobStatus
from storage.tables import Job


def request_cancel(session: Session, job_id: int) -> Job:
    """Ask job `job_id` to stop after its current step. A job that nobody runs (its runner's process
    has ended on this machine; a split job no live worker holds a batch of) would never read the
    request: it is marked cancelled at once."""
    job = get_job(session, job_id)
    job.cancel_requested = True
    if job.status in ACTIVE and job.runner is not None and Runner(job.runner).is_gone():
        finish(job, JobStatus.CANCELLED, error="cancelled after its runner had stopped")
        job.runner = None
    elif job.status in ACTIVE and job.runner is None and is_split(session, job_id):
        cancel_if_unworked(session, job)  # else its workers stop after their batches
    return job


def cancel_latest(session: Session, kind: JobKind, job_id: int | None = None) -> Job | None:
    """Ask the job a page shows (see `latest_job`) to stop, if it is still queued or running."""
    job = latest_job(session, kind, job_id)
    if job is None or job.status not in ACTIVE:
        return None
    return request_cancel(session, job.id)
