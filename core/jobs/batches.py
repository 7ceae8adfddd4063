"""A judging job split into batches that many workers claim from the store.

Each batch is a row of `job_batches`. A worker claims one with a conditional UPDATE (compare-and-set
on the status and worker it saw), so of two workers that reach for the same batch exactly one gets
it; on PostgreSQL the candidate is read `FOR UPDATE SKIP LOCKED`, so workers on many machines do not
queue behind one another's row locks (SQLite has one writer and ignores the clause; the
compare-and-set alone decides there). A worker beats its batch while it judges; a batch whose
worker has ended (seen directly on the same host) or stopped beating for the timeout is handed to
the next worker that asks. A worker commits a batch's judgments in the same transaction that marks
the batch done, on condition that it still holds it: a worker that was presumed dead and comes back
writes nothing (`JobLost`), so no pair is judged twice and none is missed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.jobs.claims import JobLost, Runner
from core.jobs.lifecycle import finish, get_job
from core.vocab import ACTIVE, BatchStatus, JobStatus
from storage.tables import Job, JobBatch, as_utc, utcnow

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimedBatch:
    id: int
    job_id: int
    position: int
    pair_ids: list[int]
    taken_over_from: str | None  # the worker that held it before, when it was taken over


def held_pairs(session: Session, job_id: int) -> set[int]:
    """The pairs of the job's batches that workers hold now (or held when they died: taken over later)."""
    running = select(JobBatch.pair_ids).where(JobBatch.job_id == job_id, JobBatch.status == BatchStatus.RUNNING)
    return {pair_id for ids in session.scalars(running) for pair_id in ids}


def chunks(pair_ids: list[int], size: int, *, ramp: bool = False) -> Iterator[list[int]]:
    """`pair_ids` in batches of `size`; with `ramp` (a person is watching) the first batch is one
    pair and none is more than a quarter of what is left, so the bar moves from the first pair on."""
    start = 0
    while start < len(pair_ids):
        left = len(pair_ids) - start
        take = min(size, max(1, left // 4), 1 if start == 0 else size) if ramp else size
        yield pair_ids[start : start + take]
        start += take


def split(session: Session, job: Job, pair_ids: list[int], size: int, *, ramp: bool = False) -> int:
    """Replace the job's waiting (and failed) batches with `chunks` of `pair_ids`; returns how
    many. Batches done or held stay: their pairs are judged, or being judged."""
    waiting = (BatchStatus.PENDING, BatchStatus.FAILED)
    session.query(JobBatch).filter(JobBatch.job_id == job.id, JobBatch.status.in_(waiting)).delete()
    start = session.scalar(select(func.coalesce(func.max(JobBatch.position), -1)).where(JobBatch.job_id == job.id))
    found = list(chunks(pair_ids, size, ramp=ramp))
    for offset, chunk in enumerate(found, start=(start or 0) + 1):
        session.add(JobBatch(job_id=job.id, position=offset, pair_ids=chunk, status=BatchStatus.PENDING))
    return len(found)


def is_split(session: Session, job_id: int) -> bool:
    return session.scalar(select(JobBatch.id).where(JobBatch.job_id == job_id).limit(1)) is not None


def claim_batch(db: Database, job_id: int, worker: Runner, *, timeout_s: float) -> ClaimedBatch | None:
    """The next batch of the job for `worker`: a pending one, else one whose worker is gone; None
    when there is none left to take, or the job was cancelled or is held by a single runner."""
    for _ in range(1000):  # a lost race is another worker's claim: progress, so this ends
        with db.session() as session:
            job = get_job(session, job_id)
            # A job that one runner took back (`gram judge` on a job split before) is that runner's.
            if job.cancel_requested or job.status not in ACTIVE or job.runner is not None:
                return None
            candidate = _candidate(session, job_id, timeout_s)
            if candidate is None:
                return None
            seen_status, seen_worker = candidate.status, candidate.worker
            now = utcnow()
            taken = session.execute(
                update(JobBatch)
                .where(
                    JobBatch.id == candidate.id,
                    JobBatch.status == seen_status,
                    JobBatch.worker.is_(None) if seen_worker is None else JobBatch.worker == seen_worker,
                )
                .values(
                    status=BatchStatus.RUNNING,
                    worker=worker.token,
                    claimed_at=now,
                    heartbeat_at=now,
                    attempts=JobBatch.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                continue
            if job.status == JobStatus.QUEUED:  # the job's row is written once, not on every claim
                job.status, job.started_at = JobStatus.RUNNING, job.started_at or now
            if seen_worker is not None:
                log.warning("job %s: batch %s taken over from %s", job_id, candidate.position, _describe(seen_worker))
            return ClaimedBatch(candidate.id, job_id, candidate.position, list(candidate.pair_ids), seen_worker)
    return None


def _candidate(session: Session, job_id: int, timeout_s: float) -> JobBatch | None:
    stale_before = utcnow() - timedelta(seconds=timeout_s)
    pending_or_stale = or_(
        JobBatch.status == BatchStatus.PENDING,
        and_(JobBatch.status == BatchStatus.RUNNING, JobBatch.heartbeat_at < stale_before),
    )
    query = (
        select(JobBatch)
        .where(JobBatch.job_id == job_id, pending_or_stale)
        .order_by(JobBatch.position)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    found = session.scalars(query).first()
    if found is not None:
        return found
    # A worker on this host that has ended is known at once, without waiting out the timeout.
    running = select(JobBatch).where(JobBatch.job_id == job_id, JobBatch.status == BatchStatus.RUNNING)
    for batch in session.scalars(running.order_by(JobBatch.position).limit(100)):
        if batch.worker is None or Runner(batch.worker).is_gone():
            return batch
    return None


def _held(batch: ClaimedBatch, worker: Runner) -> tuple[Any, ...]:
    """The batch's row while `worker` still holds it (what a beat and a completion are conditional on)."""
    return JobBatch.id == batch.id, JobBatch.worker == worker.token, JobBatch.status == BatchStatus.RUNNING


def beat(session: Session, batch: ClaimedBatch, worker: Runner) -> None:
    """Say the worker is alive and still holds the batch (JobLost if it was taken over)."""
    held = session.execute(
        update(JobBatch)
        .where(*_held(batch, worker))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if held.rowcount != 1:  # type: ignore[attr-defined]
        raise JobLost(f"batch {batch.position} of job {batch.job_id} was taken over by another worker")


def complete(session: Session, batch: ClaimedBatch, worker: Runner, seconds: float) -> Job:
    """Mark the batch done in the caller's transaction (the one holding its judgments) and count its
    pairs in the job; the last batch finishes the job. JobLost, and nothing written, if the batch is
    no longer this worker's."""
    done = session.execute(
        update(JobBatch)
        .where(*_held(batch, worker))
        .values(status=BatchStatus.DONE, finished_at=utcnow(), seconds=seconds)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise JobLost(f"batch {batch.position} of job {batch.job_id} was taken over; its judgments are not kept")
    # An increment in SQL: two workers finishing at once both count.
    session.execute(
        update(Job)
        .where(Job.id == batch.job_id)
        .values(done=Job.done + len(batch.pair_ids), heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    job = session.get(Job, batch.job_id, populate_existing=True)
    assert job is not None
    job.progress = job.done / job.total if job.total else 1.0
    left = session.scalar(
        select(func.count()).where(JobBatch.job_id == batch.job_id, JobBatch.status != BatchStatus.DONE)
    )
    if not left and job.status in ACTIVE:
        finish(job, JobStatus.SUCCEEDED, result={"judged": job.done})
    return job


def fail(db: Database, batch: ClaimedBatch, worker: Runner, error: str) -> None:
    """A worker's error on a batch: the batch and the job fail with it (a batch that fails in one
    worker would fail in the next); the batches other workers finish are still kept."""
    with db.session() as session:
        session.execute(
            update(JobBatch)
            .where(JobBatch.id == batch.id, JobBatch.worker == worker.token)
            .values(status=BatchStatus.FAILED, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        job = get_job(session, batch.job_id)
        if job.status in ACTIVE:
            finish(job, JobStatus.FAILED, error=f"batch {batch.position} ({_describe(worker.token)}): {error}")


def _worked_on(session: Session, job_id: int) -> bool:
    """Whether a live worker holds a batch of the job now."""
    running = session.scalars(
        select(JobBatch.worker).where(JobBatch.job_id == job_id, JobBatch.status == BatchStatus.RUNNING)
    )
    return any(w is not None and not Runner(w).is_gone() for w in running)


def cancel_if_unworked(session: Session, job: Job) -> bool:
    """Cancel a split job at once when no live worker holds a batch of it (none would read the request)."""
    if _worked_on(session, job.id):
        return False
    finish(job, JobStatus.CANCELLED, error="cancelled", result={"judged": job.done})
    return True


def abandon(db: Database, job_id: int, error: str) -> None:
    """A worker that could not start (its model would not load): the job fails with the reason,
    so a page waiting on it says why, unless a live worker holds a batch of it and goes on."""
    with db.session() as session:
        job = get_job(session, job_id)
        if job.status in ACTIVE and not _worked_on(session, job_id):
            finish(job, JobStatus.FAILED, error=error)


@dataclass(frozen=True)
class WorkerView:
    """One worker of a split job, as the Judge page shows it."""

    worker: str
    batches: int  # finished
    pairs: int  # judged in those
    seconds: float  # judging time of those
    current: int | None  # the batch it holds now
    since_beat_s: float | None  # seconds since its last heartbeat
    alive: bool

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.seconds if self.seconds else 0.0


def worker_views(session: Session, job_id: int, *, timeout_s: float) -> list[WorkerView]:
    """Every worker that held a batch of the job: what it finished and what it holds now."""
    views: dict[str, dict[str, Any]] = {}
    stale_before = utcnow() - timedelta(seconds=timeout_s)
    rows = session.scalars(select(JobBatch).where(JobBatch.job_id == job_id, JobBatch.worker.is_not(None)))
    for batch in rows:
        assert batch.worker is not None
        view = views.setdefault(
            batch.worker, {"batches": 0, "pairs": 0, "seconds": 0.0, "current": None, "last_beat": None}
        )
        if batch.status == BatchStatus.DONE:
            view["batches"] += 1
            view["pairs"] += len(batch.pair_ids)
            view["seconds"] += batch.seconds or 0.0
        elif batch.status == BatchStatus.RUNNING:
            view["current"] = batch.position
        beat_at = batch.heartbeat_at and as_utc(batch.heartbeat_at)
        if beat_at and (view["last_beat"] is None or beat_at > view["last_beat"]):
            view["last_beat"] = beat_at
    now = utcnow()
    return [
        WorkerView(
            worker=_describe(token),
            batches=v["batches"],
            pairs=v["pairs"],
            seconds=v["seconds"],
            current=v["current"],
            since_beat_s=(now - v["last_beat"]).total_seconds() if v["last_beat"] else None,
            alive=v["current"] is not None
            and v["last_beat"] is not None
            and v["last_beat"] >= stale_before
            and not Runner(token).is_gone(),
        )
        for token, v in sorted(views.items())
    ]


def job_workers(db: Database, job_id: int, *, timeout_s: float) -> list[WorkerView] | None:
    """The workers of job `job_id`, or None where the job is not split for workers."""
    with db.session() as session:
        return worker_views(session, job_id, timeout_s=timeout_s) if is_split(session, job_id) else None


def _describe(token: str) -> str:
    return Runner(token).describe()
