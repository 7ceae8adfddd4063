"""Training jobs run in a worker process, never in the web server's.

`spawn_worker` starts `python -m app.cli worker JOB_ID` with the same data folder and database;
the worker runs (or resumes) the job by its kind, writing progress to the job record that the
studio and `gram` read. A killed worker leaves the job 'running' with an old heartbeat; running
the job again resumes it from its last checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.errors import GramError
from core.jobs.records import get_job
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
