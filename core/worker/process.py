"""Long work runs in a worker process, never in the web server's: one entry point for every job.

`python -m core.worker JOB_ID` (also `gram worker JOB_ID`) runs a job by its kind through
`RUNNERS`: a training job (adaptation, self-training) is claimed whole and run or resumed from its
last checkpoint; a judging job is split into batches (core/jobs/batches.py) that this worker, and
any other on any machine that reaches the store, claims until none is left. The studio starts the
same worker (`start_worker` for training, `start_judge_worker` for judging) with the same data
folder and database, and reads the progress it writes to the job record. A killed worker leaves
its job or batch 'running'; the next runner takes it over.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import select

from core.data.datasets import get_dataset
from core.errors import GramError
from core.jobs.batches import abandon, worker_views
from core.jobs.claims import JobBusy, Runner, claim_job
from core.jobs.lifecycle import get_job
from core.judge.work import JudgeRun
from core.model.spec import ModelSpec
from core.settings import Settings
from core.vocab import ACTIVE, JobKind
from storage.database import Database
from storage.tables import Job


@dataclass(frozen=True)
class WorkerOptions:
    """How this worker runs a judging job: the backend here (default: the one it was queued
    with) and its batch."""

    backend: str | None = None
    batch_size: int = 8
    show_progress: bool = True


@dataclass(frozen=True)
class Worked:
    """What a worker leaves: the job as it left it, and one line saying so."""

    job: Job
    summary: str


def _ended(job: Job) -> Worked:
    return Worked(job, f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))


def _adapt(db: Database, settings: Settings, job_id: int, options: WorkerOptions) -> Worked:
    from core.train.adaptation import run_adaptation

    return _ended(run_adaptation(db, settings, job_id, show_progress=options.show_progress))


def _selftrain(db: Database, settings: Settings, job_id: int, options: WorkerOptions) -> Worked:
    from core.train.selftrain import run_selftrain

    return _ended(run_selftrain(db, settings, job_id, show_progress=options.show_progress))


def _judge(db: Database, settings: Settings, job_id: int, options: WorkerOptions) -> Worked:
    from core.backends import configured_backend
    from core.judge.distributed import job_spec, run_worker

    spec, queued_on = job_spec(db, job_id)
    try:
        backend = configured_backend(
            settings, spec, options.backend or queued_on or None, batch_size=options.batch_size
        )
    except Exception as error:
        abandon(db, job_id, f"the worker could not load {spec.name}: {error}")
        raise
    try:
        judged = run_worker(db, backend, job_id, timeout_s=settings.job_timeout_s, show_progress=options.show_progress)
    finally:
        backend.close()
    with db.session() as session:
        job = get_job(session, job_id)
    return Worked(job, f"job {job.id} {job.status}: {job.done}/{job.total} pairs judged, {judged} by this worker")


# A job's kind -> what runs it.
RUNNERS: dict[JobKind, Callable[[Database, Settings, int, WorkerOptions], Worked]] = {
    JobKind.ADAPT: _adapt,
    JobKind.SELFTRAIN: _selftrain,
    JobKind.JUDGE: _judge,
}


def run_job(db: Database, settings: Settings, job_id: int, options: WorkerOptions | None = None) -> Worked:
    """Run (or join, or resume) job `job_id` here by its kind; returns the job as this worker left it."""
    with db.session() as session:
        kind = get_job(session, job_id).kind
    runner = RUNNERS.get(JobKind(kind))
    if runner is None:
        raise GramError(f"job {job_id} is a {kind} job; a worker runs {', '.join(RUNNERS)} jobs")
    return runner(db, settings, job_id, options or WorkerOptions())


def spawn_worker(settings: Settings, job_id: int, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the worker process for `job_id`; its output goes to `log_file` (default: the job's log file)."""
    log_file = log_file or settings.home / "jobs" / f"{job_id}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "core.worker", str(job_id)]
    # The data folder and the database URL travel in the environment, never on the command line,
    # where anyone on the machine can read a PostgreSQL password with `ps`.
    env = {**os.environ, "GRAM_HOME": str(settings.home), "GRAM_DB_URL": settings.database_url}
    with log_file.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).resolve().parents[2]
        )


def start_worker(db: Database, settings: Settings, job_id: int) -> subprocess.Popen[bytes]:
    """Spawn the worker for `job_id` and claim the job in its name; JobBusy (and no worker left
    running) if another live runner holds the job."""
    process = spawn_worker(settings, job_id)
    try:
        claim_job(db, job_id, Runner.of_process(process.pid), timeout_s=settings.job_timeout_s)
    except psutil.NoSuchProcess as gone:
        log_file = settings.home / "jobs" / f"{job_id}.log"
        raise GramError(f"the worker for job {job_id} ended at once: see {log_file}") from gone
    except JobBusy:
        process.kill()
        process.wait()
        raise
    return process


def start_judge_worker(
    db: Database, settings: Settings, spec: ModelSpec, backend_name: str, run: JudgeRun, *, owner: str | None = None
) -> Job:
    """Queue the judging `run` in batches and start a worker process on it, as the studio does;
    GramError while a live worker already judges it (one more would only share these cores)."""
    from core.judge.distributed import queue_for_workers

    with db.session() as session:
        dataset_id = get_dataset(session, run.dataset).id
        busy = session.scalars(
            select(Job).where(Job.kind == JobKind.JUDGE, Job.dataset_id == dataset_id, Job.status.in_(ACTIVE))
        ).all()
        for job in busy:
            if any(w.alive for w in worker_views(session, job.id, timeout_s=settings.job_timeout_s)):
                raise GramError(f"job {job.id} is judging {run.dataset} now; wait for it or cancel it")
    job = queue_for_workers(db, spec, backend_name, run, owner=owner, timeout_s=settings.job_timeout_s)
    if job.status in ACTIVE:
        spawn_worker(settings, job.id)
    return job
