"""Jobs that a team can trust: the worker's secrets stay out of `ps`, a cancel keeps finished work."""

from __future__ import annotations

from pathlib import Path

from core.jobs.workers import spawn_worker
from core.settings import Settings


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
