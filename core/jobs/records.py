"""Job records: long work reports progress to the store, where the CLI and the studio read it.

A job checks `cancel_requested` between steps and stops cleanly; one that was killed keeps
status 'running' with an old heartbeat and is resumed by running the same work again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import GramError, NotFoundError
from core.vocab import ACTIVE, RESUMABLE, JobKind, JobStatus
from storage.tables import Job, utcnow

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger(__name__)


class JobCancelled(GramError):
    """Someone asked the job to stop."""


def create_job(session: Session, kind: JobKind, config: dict[str, Any], dataset_id: int | None = None) -> Job:
    job = Job(kind=kind, config=config, dataset_id=dataset_id, status=JobStatus.QUEUED)
    session.add(job)
    session.flush()
    return job


def find_resumable(session: Session, kind: JobKind, config: dict[str, Any], dataset_id: int | None) -> Job | None:
    """The latest unfinished job of the same kind, dataset and configuration."""
    query = (
        select(Job)
        .where(Job.kind == kind, Job.dataset_id == dataset_id, Job.status.in_(RESUMABLE))
        .order_by(Job.id.desc())
    )
    return next((job for job in session.scalars(query) if job.config == config), None)


def mark_running(job: Job, total: int) -> None:
    job.status, job.total, job.error, job.cancel_requested = JobStatus.RUNNING, total, None, False
    job.started_at = job.started_at or utcnow()
    job.heartbeat_at = utcnow()


def report_progress(job: Job, done: int, line: str | None = None) -> None:
    """Record progress (in the caller's transaction, beside the work it reports)."""
    job.done = done
    job.progress = done / job.total if job.total else 1.0
    job.heartbeat_at = utcnow()
    if line:
        job.log = (job.log + line + "\n")[-20_000:]


def stop_if_cancelled(db: Database, job_id: int) -> None:
    """Raise JobCancelled if someone asked the job to stop. Called between steps, after the last
    step's work is committed, so a cancel never throws finished work away."""
    with db.session() as session:
        if get_job(session, job_id).cancel_requested:
            raise JobCancelled(f"job {job_id} was cancelled")


def finish(job: Job, status: JobStatus, *, error: str | None = None, result: dict[str, Any] | None = None) -> None:
    job.status, job.error, job.finished_at = status, error, utcnow()
    if result is not None:
        job.result = result


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id}")
    return job


def latest_job(session: Session, kind: JobKind, job_id: int | None = None) -> Job | None:
    """Job `job_id` if given, else the latest job of this kind (what a job page shows)."""
    if job_id is not None:
        return session.get(Job, job_id)
    return session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).first()


def request_cancel(session: Session, job_id: int) -> Job:
    """Ask job `job_id` to stop after its current step."""
    job = get_job(session, job_id)
    job.cancel_requested = True
    return job


def cancel_latest(session: Session, kind: JobKind, job_id: int | None = None) -> Job | None:
    """Ask the job a page shows (see `latest_job`) to stop, if it is still queued or running."""
    job = latest_job(session, kind, job_id)
    if job is None or job.status not in ACTIVE:
        return None
    job.cancel_requested = True
    return job


@contextmanager
def recorded(db: Database, job_id: int, result: Callable[[], dict[str, Any]]) -> Iterator[None]:
    """Run a job's body and record how it ended: succeeded, cancelled (JobCancelled, swallowed)
    or failed (re-raised), with `result()` read at the end. A killed process records nothing,
    so the job stays 'running' and is resumed by running it again."""
    status, error = JobStatus.SUCCEEDED, None
    log.info("job %s started", job_id)
    try:
        yield
    except JobCancelled:
        status = JobStatus.CANCELLED
    except BaseException as exc:
        status, error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", job_id)
        raise
    finally:
        with db.session() as session:
            job = session.get(Job, job_id)
            if job is not None:
                finish(job, status, error=error, result=result())
        log.info("job %s %s", job_id, status)


@dataclass(frozen=True)
class JobView:
    """A job as a page shows it (plain data, read in one session)."""

    id: int
    kind: str
    status: str
    done: int
    total: int | None
    log: str
    error: str | None
    result: dict[str, Any]

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(job.id, job.kind, job.status, job.done, job.total, job.log, job.error, dict(job.result or {}))


def job_view(db: Database, kind: JobKind, job_id: int | None = None) -> JobView | None:
    """The job a page shows: `job_id` if given, else the latest of this kind."""
    with db.session() as session:
        job = latest_job(session, kind, job_id)
        return JobView.of(job) if job is not None else None
