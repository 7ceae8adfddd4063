"""Jobs that a team can trust: the worker's secrets stay out of `ps`, a cancel keeps finished work."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.worker.process import spawn_worker


def test_the_worker_gets_the_database_url_through_its_environment(settings: Settings, tmp_path: Path) -> None:
    """A PostgreSQL password on the command line shows in `ps`; the URL travels in the environment."""
    secret = tmp_path / "pw-s3cret-marker" / "gram.db"
    secret.parent.mkdir()  # an SQLite URL's folder is never created for it (core/store.py)
    worker_settings = settings.model_copy(update={"db_url": f"sqlite:///{secret}"})
    log = tmp_path / "worker.log"
    process = spawn_worker(worker_settings, 999, log_file=log)
    assert "s3cret" not in " ".join(map(str, process.args))
    assert process.wait(timeout=120) == 1
    # The worker reached the very database named only in its environment: it migrated it, then
    # found no job 999 there.
    assert secret.exists()
    assert "no job with id 999" in log.read_text()


def test_a_cancel_asked_before_the_runner_starts_is_kept_and_a_resumed_job_starts_without_the_old_one(
    settings: Settings,
) -> None:
    from core.jobs.lifecycle import mark_running
    from core.vocab import JobStatus
    from storage.database import Database
    from storage.tables import Job

    db = Database(settings.database_url)
    with db.session() as session:
        # Asked to stop while queued (the studio's worker process still loading the model): kept.
        job = Job(kind="selftrain", status=JobStatus.QUEUED, cancel_requested=True)
        session.add(job)
        mark_running(job, 3)
        assert job.cancel_requested and job.status == JobStatus.RUNNING
        # A job that ended cancelled and is run again starts afresh.
        job.status = JobStatus.CANCELLED
        mark_running(job, 3)
        assert not job.cancel_requested
    db.dispose()
