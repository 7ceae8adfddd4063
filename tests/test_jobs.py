"""Jobs that a team can trust: the worker's secrets stay out of `ps`, a cancel keeps finished work."""

from __future__ import annotations

from pathlib import Path

from core.jobs.workers import spawn_worker
from core.settings import Settings
from storage.tables import Job


def test_the_worker_gets_the_database_url_through_its_environment(settings: Settings, tmp_path: Path) -> None:
    """A PostgreSQL password on the command line shows in `ps`; the URL travels in the environment."""
    secret = tmp_path / "pw-s3cret-marker" / "gram.db"
    worker_settings = settings.model_copy(update={"db_url": f"sqlite:///{secret}"})
    log = tmp_path / "worker.log"
    process = spawn_worker(worker_settings, 999, log_file=log)
    assert "s3cret" not in " ".join(map(str, process.args))
    assert process.wait(timeout=120) == 1
    # The worker reached the very database named only in its environment: it migrated it, then
    # found no job 999 there.
    assert secret.exists()
    assert "no job with id 999" in log.read_text()


def test_a_cancel_is_honoured_between_steps_never_inside_one(db) -> None:
    """Progress is recorded in the transaction that holds the step's work, so recording it must not
    throw that work away; the cancel is read after the commit, by `stop_if_cancelled`."""
    import pytest

    from core.jobs.records import JobCancelled, create_job, report_progress, request_cancel, stop_if_cancelled
    from core.vocab import JobKind

    with db.session() as session:
        job_id = create_job(session, JobKind.JUDGE, {}).id
        request_cancel(session, job_id)
    with db.session() as session:
        job = session.get(Job, job_id)
        job.total = 4
        report_progress(job, 2, "2/4")  # does not raise: the step's work commits with it
    with db.session() as session:
        assert session.get(Job, job_id).done == 2
    with pytest.raises(JobCancelled):
        stop_if_cancelled(db, job_id)
