"""Training jobs run in a worker process, never in the web server's.

`start_worker` starts `python -m app.cli worker JOB_ID` with the same data folder and database
and claims the job for it at once (core/jobs/claims.py), so a second click while it runs is
refused instead of starting a second trainer in the same working folder. The worker runs (or
resumes) the job by its kind, writing progress to the job record that the studio and `gram`
read. A killed worker leaves the job 'running'; the next runner takes it over and resumes it
from its last checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from core.errors import GramError
from core.jobs.claims import JobBusy, Runner, claim_job
from core.jobs.lifecycle import get_job
from core.settings import Settings
from core.vocab import TRAINING_JOBS, JobKind
from storage.database import Database
from storage.tables import Job


def run_job(db: Database, settings: Settings, job_id: int, *, show_progress: bool = True) -> Job:
    with db.session() as session:
        kind = get_job(session, job_id).kind
    if kind == JobKind.ADAPT:
        from core.train.adaptation import run_adaptation

        return run_adaptation(db, settings, job_id, show_progress=show_progress)
    if kind == JobKind.SELFTRAIN:
        from core.train.selftrain import run_selftrain

        return run_selftrain(db, settings, job_id, show_progress=show_progress)
    raise GramError(f"job {job_id} is a {kind} job; a worker runs training jobs ({', '.join(TRAINING_JOBS)})")


def spawn_worker(settings: Settings, job_id: int, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the worker process for `job_id`; its output goes to `log_file` (default: the job's log file)."""
    log_file = log_file or settings.home / "jobs" / f"{job_id}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "app.cli", "worker", str(job_id)]
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
