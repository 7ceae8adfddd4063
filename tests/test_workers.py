"""One judging job, many workers: batches claimed once each, a killed worker's batch taken over,
every pair judged exactly once; on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.context import StudioContext
from app.pages import judge
from core.data.demo import seed_demo
from core.jobs.batches import claim_batch, complete, worker_views
from core.jobs.cancel import request_cancel
from core.jobs.claims import Runner
from core.judge.distributed import queue_for_workers
from core.judge.work import JudgeRun
from core.model.spec import ModelSpec
from core.settings import Settings
from core.vocab import BatchStatus, JobStatus, Protocol
from storage.database import Database
from storage.tables import Job, JobBatch, Judgment
from tests.test_job_claims import gram

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, settings: Settings) -> str:
    """A database URL: the test's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return settings.database_url
    return str(request.getfixturevalue("pg_url"))


def queued(db: Database, settings: Settings, model_dir: Path, *, limit: int, batch: int) -> Job:
    """The demo queued for workers; only the spec is stored, so a fast test passes any folder."""
    with db.session() as session:
        seed_demo(session, settings)
    run = JudgeRun("demo", Protocol.LABEL_ONLY, limit=limit, batch_size=batch)
    return queue_for_workers(db, ModelSpec(model_dir.name, str(model_dir)), "transformers", run)


def test_racing_workers_claim_each_batch_once(store: str, settings: Settings, tmp_path: Path) -> None:
    """Eight workers claim at once, over and over, until no batch is left: each batch goes to
    exactly one of them, the job counts every pair and ends; a cancel then stops a re-queued job."""
    db = Database(store)
    job = queued(db, settings, tmp_path, limit=60, batch=2)
    claims: list[tuple[str, int]] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        worker = Runner.of_thread()
        barrier.wait()
        while (batch := claim_batch(db, job.id, worker, timeout_s=60)) is not None:
            claims.append((worker.token, batch.id))
            with db.session() as session:
                complete(session, batch, worker, 0.01)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch_ids = [b for _, b in claims]
    assert len(batch_ids) == len(set(batch_ids)) == 30
    assert len({w for w, _ in claims}) > 1  # the work was shared
    with db.session() as session:
        finished = session.get(Job, job.id)
        assert (finished.status, finished.done, finished.total) == (JobStatus.SUCCEEDED, 60, 60)
        views = worker_views(session, job.id, timeout_s=60)
        assert sum(v.batches for v in views) == 30 and sum(v.pairs for v in views) == 60
        assert not any(v.alive for v in views)
    # The Judge page lists each worker with what it did.
    shown = judge.judging_status(StudioContext(settings, db))
    assert shown.count('<tr data-alive="false">') == len({w for w, _ in claims}) == len(views)
    assert f"job {job.id} (judge): succeeded" in shown
    db.dispose()


def test_queueing_again_keeps_the_batch_a_worker_holds(settings: Settings, tmp_path: Path) -> None:
    """`gram judge --for-workers` again while a worker judges: its batch goes on, the other pairs
    are split afresh, and no pair is in two batches."""
    db = Database(settings.database_url)
    job = queued(db, settings, tmp_path, limit=6, batch=2)
    first = Runner.of_thread()
    held = claim_batch(db, job.id, first, timeout_s=60)
    assert held is not None
    again = queued(db, settings, tmp_path, limit=6, batch=3)
    assert (again.id, again.status, again.total) == (job.id, JobStatus.RUNNING, 6)
    with db.session() as session:
        batches = list(session.scalars(select(JobBatch).where(JobBatch.job_id == job.id)))
        pairs = [i for batch in batches for i in batch.pair_ids]
        assert len(pairs) == len(set(pairs)) == 6 and len(batches) == 3  # the held 2, then 3 and 1
    with db.session() as session:
        complete(session, held, first, 0.1)
    other = Runner.of_thread()
    while (batch := claim_batch(db, job.id, other, timeout_s=60)) is not None:
        with db.session() as session:
            complete(session, batch, other, 0.1)
    with db.session() as session:
        finished = session.get(Job, job.id)
        assert (finished.status, finished.done) == (JobStatus.SUCCEEDED, 6)
    db.dispose()


def test_a_queued_job_nobody_works_on_is_cancelled_at_once(settings: Settings, tmp_path: Path) -> None:
    db = Database(settings.database_url)
    job = queued(db, settings, tmp_path, limit=6, batch=2)
    with db.session() as session:
        assert request_cancel(session, job.id).status == JobStatus.CANCELLED
    assert claim_batch(db, job.id, Runner.of_thread(), timeout_s=60) is None
    db.dispose()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_worker_s_batch_is_taken_over_and_every_pair_is_judged_once(
    store: str, settings: Settings, embedded_model_dir: Path
) -> None:
    """`gram judge --for-workers`, then a worker killed while it holds a batch and two more
    workers: they take its batch over and finish; every pair has exactly one judgment."""
    db = Database(store)
    with db.session() as session:
        seed_demo(session, settings)
    env = {"GRAM_DB_URL": store, "GRAM_JOB_TIMEOUT_S": "60"}
    model = ["--model", str(embedded_model_dir)]
    queue = gram(
        "judge",
        "demo",
        "--fast",
        "--for-workers",
        "--limit",
        "16",
        "--batch-size",
        "2",
        *model,
        home=settings.home,
        **env,
    )
    output = queue.communicate(timeout=300)[0]
    assert queue.returncode == 0, output
    with db.session() as session:
        job_id = session.scalars(select(Job.id)).one()
        assert session.scalar(select(func.count()).where(JobBatch.job_id == job_id)) == 8
    doomed = gram("worker", str(job_id), "--batch-size", "2", home=settings.home, **env)
    deadline = time.monotonic() + 600
    held = None
    while held is None and time.monotonic() < deadline and doomed.poll() is None:
        with db.session() as session:
            held = session.scalars(
                select(JobBatch).where(
                    JobBatch.status == BatchStatus.RUNNING, JobBatch.worker.contains(f"/{doomed.pid}/")
                )
            ).first()
        time.sleep(0.05)
    assert held is not None, doomed.communicate()[0]
    os.kill(doomed.pid, signal.SIGKILL)  # mid-batch: nothing of that batch is committed
    doomed.wait()
    workers = [gram("worker", str(job_id), home=settings.home, **env) for _ in range(2)]
    outputs = [w.communicate(timeout=800)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 16, 16), outputs
        per_pair = list(session.scalars(select(func.count(Judgment.id)).group_by(Judgment.pair_id)))
        assert len(per_pair) == 16 and set(per_pair) == {1}
        taken_over = session.get(JobBatch, held.id)
        assert taken_over.status == BatchStatus.DONE and taken_over.attempts == 2
        assert str(doomed.pid) not in (taken_over.worker or "")
        views = worker_views(session, job_id, timeout_s=60)
        assert sum(v.pairs for v in views) == 16
    assert sum(int(o.rsplit(", ", 1)[1].split()[0]) for o in outputs) <= 16  # "…, N by this worker"
    db.dispose()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_judging_a_split_job_joins_its_workers_and_a_runner_s_job_gives_workers_nothing(
    settings: Settings, embedded_model_dir: Path
) -> None:
    """The studio's or `gram judge`'s run of work already split for workers judges as one more
    worker (its batches, each once); while one runner holds a job, a worker gets no batch of it."""
    from core.backends.transformers_backend import TransformersBackend
    from core.jobs.claims import claim_job
    from core.judge.run import run_judging

    db = Database(settings.database_url)
    job = queued(db, settings, embedded_model_dir, limit=6, batch=2)
    backend = TransformersBackend(ModelSpec(embedded_model_dir.name, str(embedded_model_dir)), batch_size=2)
    try:
        run = JudgeRun("demo", Protocol.LABEL_ONLY, limit=6, batch_size=2)
        finished = run_judging(db, backend, run, show_progress=False)
    finally:
        backend.close()
    assert (finished.id, finished.status, finished.done) == (job.id, JobStatus.SUCCEEDED, 6)
    with db.session() as session:
        per_pair = list(session.scalars(select(func.count(Judgment.id)).group_by(Judgment.pair_id)))
        assert len(per_pair) == 6 and set(per_pair) == {1}
        assert session.scalar(select(func.count()).where(JobBatch.status == BatchStatus.DONE)) == 3
    again = queued(db, settings, embedded_model_dir, limit=10, batch=2)  # a new job: the first ended
    assert again.id != job.id and (again.status, again.total) == (JobStatus.QUEUED, 10)
    claim_job(db, again.id, Runner.of_thread())  # one runner takes the job over: it is that runner's now
    assert claim_batch(db, again.id, Runner.of_thread(), timeout_s=60) is None
    db.dispose()
