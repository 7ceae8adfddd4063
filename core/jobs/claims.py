"""Who runs a job: one runner at a time, claimed atomically, kept alive by a heartbeat.

A runner is a process (and, inside the studio's server, one thread of it) named by its host, pid
and the process's start time. Claiming a job is one conditional UPDATE (compare-and-set on the
runner the claimer saw), so of two processes that try at once exactly one wins and the other is
refused with `JobBusy`. A claim can be taken over when its runner is gone: its process has ended
(checked directly on the same host) or its heartbeat is older than the timeout
(`GRAM_JOB_TIMEOUT_S`, for runners on other machines). A runner that lost its claim finds out at
its next progress report and stops without writing (`JobLost`).

Two runs that would do the same work get the same `work_key`; a partial unique index allows one
queued or running job per key, so two processes starting the same work at once end up on one job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psutil
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from core.vocab import ACTIVE, RESUMABLE, JobKind, JobStatus
from storage.tables import Job, as_utc, utcnow

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0


class JobBusy(ConflictError):
    """Another live runner holds the job."""


class JobLost(ConflictError):
    """The job was taken over by another runner (this one was presumed dead)."""


@dataclass(frozen=True)
class Runner:
    """A job runner's identity: host/pid/process start time[/thread tag]."""

    token: str

    @classmethod
    def of_process(cls, pid: int | None = None, *, tag: str | None = None) -> Runner:
        """The runner for process `pid` (default: this one); `tag` tells threads of one process apart."""
        pid = pid or os.getpid()
        started = psutil.Process(pid).create_time()
        parts = [socket.gethostname(), str(pid), f"{started:.2f}", *([tag] if tag else [])]
        return cls("/".join(parts))

    @classmethod
    def of_thread(cls) -> Runner:
        """A runner for work done in a thread of this process (the studio's judging)."""
        return cls.of_process(tag=uuid.uuid4().hex[:8])

    def describe(self) -> str:
        host, pid, *_ = self.token.split("/")
        return f"process {pid} on {host}"

    def is_gone(self) -> bool:
        """True when this runner's process is known to have ended (only knowable on its own host)."""
        try:
            host, pid, started, *_ = self.token.split("/")
            if host != socket.gethostname():
                return False
            process = psutil.Process(int(pid))
            return f"{process.create_time():.2f}" != started or process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
        except (ValueError, psutil.Error):
            return False


def work_key(kind: JobKind, dataset_id: int | None, identity: dict[str, Any]) -> str:
    """The key of the work a job does: two jobs with one key would do the same work."""
    text = json.dumps([str(kind), dataset_id, identity], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _free_reason(job: Job, runner: Runner, now: datetime, timeout_s: float) -> str | None:
    """Why `runner` may take the job now (None: it may not)."""
    if job.runner is None or job.runner == runner.token:
        return "free"
    if job.status not in ACTIVE:
        return "ended"
    if Runner(job.runner).is_gone():
        return "gone"
    if job.heartbeat_at is None or now - as_utc(job.heartbeat_at) > timedelta(seconds=timeout_s):
        return "stale"
    return None


def refuse_if_held(job: Job, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """JobBusy when a live runner holds the job, by the rule a claim uses (for one that splits the
    job for workers instead of claiming it)."""
    now = utcnow()
    if _free_reason(job, Runner(""), now, timeout_s) is None:
        raise _busy(job, now, timeout_s)


def claim_job(db: Database, job_id: int, runner: Runner, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Make `runner` the job's runner, or raise JobBusy naming the live runner that holds it."""
    with db.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"no job with id {job_id}")
        now = utcnow()
        reason = _free_reason(job, runner, now, timeout_s)
        if reason is None:
            raise _busy(job, now, timeout_s)
        seen = job.runner
        # Compare-and-set on what was seen: of two claimers, the second matches no row.
        condition = [Job.id == job_id, Job.runner.is_(None) if seen is None else Job.runner == seen]
        if reason == "stale":  # and still stale now: the holder did not beat in the meantime
            stale_before = now - timedelta(seconds=timeout_s)
            condition.append(or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before))
        taken = session.execute(
            update(Job)
            .where(*condition)
            .values(runner=runner.token, heartbeat_at=now, status=JobStatus.RUNNING)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise _busy(session.get(Job, job_id, populate_existing=True) or job, utcnow(), timeout_s)
        if seen is not None and seen != runner.token:
            log.warning("job %s taken over from %s (%s)", job_id, Runner(seen).describe(), reason)


def _busy(job: Job, now: datetime, timeout_s: float) -> JobBusy:
    ago = f"{(now - as_utc(job.heartbeat_at)).total_seconds():.0f} s ago" if job.heartbeat_at else "never"
    holder = Runner(job.runner).describe() if job.runner else "another runner"
    return JobBusy(
        f"{job.kind} job {job.id} is already running ({holder}, last heartbeat {ago}); wait for it or cancel it. "
        f"A runner that stops beating for {timeout_s:.0f} s (GRAM_JOB_TIMEOUT_S) is taken over."
    )


def claim_work(
    db: Database,
    kind: JobKind,
    key: str,
    config: dict[str, Any],
    dataset_id: int | None,
    runner: Runner,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    owner: str | None = None,
) -> int:
    """The job doing this work (the latest unfinished one with `key`, or a new one), claimed for `runner`."""
    job_id, created = create_or_find(db, kind, key, config, dataset_id, runner, owner=owner)
    if not created:
        claim_job(db, job_id, runner, timeout_s=timeout_s)
    return job_id


def create_or_find(
    db: Database,
    kind: JobKind,
    key: str,
    config: dict[str, Any],
    dataset_id: int | None,
    runner: Runner | None = None,
    *,
    owner: str | None = None,
) -> tuple[int, bool]:
    """(id, created): the unfinished job doing this work, its config now this run's (a limit or the
    backend may differ), or a new one: claimed by `runner` if given, else queued for a worker. A new
    job is `owner`'s (the login that may cancel it besides an admin)."""
    for _ in range(3):
        with db.session() as session:
            job = find_resumable(session, kind, key, dataset_id)
            if job is not None:
                job.config = config
                return job.id, False
            try:
                new = Job(
                    kind=kind, config=config, dataset_id=dataset_id, work_key=key, status=JobStatus.QUEUED, owner=owner
                )
                if runner is not None:
                    new.status, new.runner, new.heartbeat_at = JobStatus.RUNNING, runner.token, utcnow()
                session.add(new)
                session.flush()
                return new.id, True
            except IntegrityError:  # another process created it first: find that one
                session.rollback()
    raise JobBusy(f"could not start the {kind} job: others keep starting the same work")


def find_resumable(session: Session, kind: JobKind, key: str, dataset_id: int | None) -> Job | None:
    """The latest unfinished job doing this work."""
    query = (
        select(Job)
        .where(Job.kind == kind, Job.dataset_id == dataset_id, Job.work_key == key, Job.status.in_(RESUMABLE))
        .order_by(Job.id.desc())
    )
    return session.scalars(query).first()


def assert_held(session: Session, job_id: int, runner: Runner) -> None:
    """Beat, and check in the caller's transaction that `runner` still holds the job (JobLost if not):
    work committed in that transaction is then committed by the job's one runner."""
    held = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.runner == runner.token)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if held.rowcount != 1:  # type: ignore[attr-defined]
        raise JobLost(f"job {job_id} was taken over by another runner; this one stops without writing")


@contextmanager
def heartbeat(db: Database, job_id: int, runner: Runner, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Beat every timeout/4 seconds in a thread while the body runs (a training step or a batch can
    take longer than the timeout; the beat says the process is alive, progress reports say more)."""
    with beating(db, lambda session: assert_held(session, job_id, runner), timeout_s, f"job {job_id}"):
        yield


@contextmanager
def beating(db: Database, beat: Callable[[Session], None], timeout_s: float, what: str) -> Iterator[None]:
    """Call `beat` in a transaction of its own every timeout/4 seconds in a thread while the body runs;
    a beat that raises JobLost ends the beating (the claim is someone else's now)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(max(timeout_s / 4, 0.05)):
            try:
                with db.session() as session:
                    beat(session)
            except JobLost:
                log.warning("%s: lost its claim; stopping the heartbeat", what)
                return
            except Exception:  # a busy database must not kill the beat: try again next time
                log.exception("%s: heartbeat failed", what)

    thread = threading.Thread(target=run, daemon=True, name=f"gram-heartbeat-{what}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
