"""Job records: long work reports progress to the store, where the CLI and the studio read it.

A job is run by the one runner that claimed it (core/jobs/claims.py). It checks
`cancel_requested` between steps and stops cleanly; one that was killed keeps status 'running'
until a runner takes it over and resumes it.
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
from core.jobs.claims import DEFAULT_TIMEOUT_S, JobLost, Runner, assert_held, heartbeat
from core.vocab import ACTIVE, JobKind, JobStatus
from storage.tables import Job, utcnow

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger(__name__)


class JobCancelled(GramError):
    """Someone asked the job to stop."""


@dataclass(frozen=True)
class Claimed:
    """A job held by this runner (see core/jobs/claims.py): what a job's body reports through."""

    db: Database
    job_id: int
    runner: Runner
    timeout_s: float = DEFAULT_TIMEOUT_S

    def progress(
        self,
        session: Session,
        done: int | None = None,
        line: str | None = None,
        *,
        total: int | None = None,
        point: tuple[int, float] | None = None,
    ) -> Job:
        """Record progress in the caller's transaction, beside the work it reports; JobLost (and
        nothing of that transaction written) if another runner took the job over. A `point`
        (step, value) joins the live curve a page draws (`result["curve"]`, the last 2,000)."""
        assert_held(session, self.job_id, self.runner)
        job = get_job(session, self.job_id)
        if total is not None:
            job.total = total
        if done is not None:
            job.done = done
        job.progress = job.done / job.total if job.total else 1.0
        if line:
            job.log = (job.log + line + "\n")[-20_000:]
        if point is not None:  # a new dict: SQLAlchemy sees a JSON column change only when replaced
            job.result = {**(job.result or {}), "curve": [*(job.result or {}).get("curve", [])[-1999:], list(point)]}
        return job

    def stop_if_cancelled(self) -> None:
        """Raise JobCancelled if someone asked the job to stop (JobLost if it was taken over).
        Called between steps, after the last step's work is committed, so a cancel never throws
        finished work away."""
        with self.db.session() as session:
            job = session.get(Job, self.job_id, populate_existing=True)
            if job is None or job.runner != self.runner.token:
                raise JobLost(f"job {self.job_id} was taken over by another runner; this one stops")
            if job.cancel_requested:
                raise JobCancelled(f"job {self.job_id} was cancelled")

    @contextmanager
    def recorded(self, result: Callable[[], dict[str, Any]]) -> Iterator[None]:
        """Run a job's body with a heartbeat and record how it ended: succeeded, cancelled
        (JobCancelled, swallowed) or failed (re-raised), with `result()` read at the end, and
        the claim released. A killed process records nothing: the job stays 'running' until
        a runner takes it over; a runner that lost the job records nothing either."""
        status: JobStatus | None = JobStatus.SUCCEEDED
        error = None
        log.info("job %s started by %s", self.job_id, self.runner.describe())
        try:
            with heartbeat(self.db, self.job_id, self.runner, timeout_s=self.timeout_s):
                yield
        except JobCancelled:
            status = JobStatus.CANCELLED
        except JobLost:
            status = None  # the job is another runner's now
            raise
        except BaseException as exc:
            status, error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", self.job_id)
            raise
        finally:
            if status is not None:
                self._finish(status, error, result)

    def _finish(self, status: JobStatus, error: str | None, result: Callable[[], dict[str, Any]]) -> None:
        with self.db.session() as session:
            try:
                assert_held(session, self.job_id, self.runner)
            except JobLost:
                log.warning("job %s was taken over; its end is the new runner's to record", self.job_id)
                return
            job = get_job(session, self.job_id)
            finish(job, status, error=error, result=result())
            job.runner = None
        log.info("job %s %s", self.job_id, status)


def rate_line(
    done: int, total: int, seconds: float, *, counted: int | None = None, unit: str = "pairs", also: str = ""
) -> str:
    """ "done/total unit, rate unit/s[, also], about T left": the rate is of `counted` (default
    `done`) units in `seconds`, the time left at that rate."""
    rate = (done if counted is None else counted) / seconds if seconds else 0.0
    left = total - done
    eta = ""
    if rate and left > 0:
        eta = f", about {left / rate:.0f} s left" if left / rate < 90 else f", about {left / rate / 60:.0f} min left"
    return f"{done}/{total} {unit}, {rate:.2f} {unit}/s{', ' + also if also else ''}{eta}"


def mark_running(job: Job, total: int) -> None:
    # A cancel asked while the job waited for its runner (a worker loading the model) still holds;
    # only a job that had ended (cancelled, failed) and is run again starts without the old request.
    if job.status not in ACTIVE:
        job.cancel_requested = False
    job.status, job.total, job.error = JobStatus.RUNNING, total, None
    job.started_at = job.started_at or utcnow()
    job.heartbeat_at = utcnow()


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
