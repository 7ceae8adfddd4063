"""One runner per job: claimed atomically, refused while its runner lives, taken over once it is dead."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from core.jobs.cancel import request_cancel
from core.jobs.claims import JobBusy, JobLost, Runner, claim_job, claim_work, work_key
from core.jobs.lifecycle import Claimed, JobCancelled
from core.vocab import JobKind
from storage.database import Database
from storage.tables import Job, utcnow

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def at_once(threads: int, attempt: Callable[[Runner], T]) -> list[T | str]:
    """`threads` runners make `attempt` at the same instant; each outcome, or 'busy' if refused."""
    barrier, outcomes = threading.Barrier(threads), []

    def run() -> None:
        runner = Runner.of_thread()
        barrier.wait()
        try:
            outcomes.append(attempt(runner))
        except JobBusy:
            outcomes.append("busy")

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def race_claims(db: Database, threads: int = 8) -> list[int | str]:
    """`threads` runners try to start the same work at the same instant; each gets a job id or 'busy'."""
    key = work_key(JobKind.JUDGE, None, {"the": "same work"})
    return at_once(threads, lambda runner: claim_work(db, JobKind.JUDGE, key, {}, None, runner))


def assert_one_runner(db: Database, outcomes: list[int | str]) -> None:
    winners = [o for o in outcomes if o != "busy"]
    assert len(winners) == 1, outcomes
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1
        assert session.get(Job, winners[0]).runner is not None


def race_takeovers(db: Database, job_id: int, threads: int = 8) -> list[str]:
    """Job `job_id`'s runner (on another machine) stopped beating an hour ago; `threads` runners
    try to take it over at the same instant. Returns the tokens of those that succeeded."""
    with db.session() as session:
        job = session.get(Job, job_id)
        job.runner, job.heartbeat_at = "gpu-host-7/1/1.00", utcnow() - timedelta(hours=1)

    def take(runner: Runner) -> str:
        claim_job(db, job_id, runner, timeout_s=60)
        return runner.token

    return [o for o in at_once(threads, take) if o != "busy"]


def race_round(db: Database) -> int:
    """Many runners start the same work at once, then many take over its stale claim at once:
    one job, one winner each time. Returns the job's id."""
    outcomes = race_claims(db)
    assert_one_runner(db, outcomes)
    job_id = next(o for o in outcomes if isinstance(o, int))
    won = race_takeovers(db, job_id)
    with db.session() as session:
        assert won == [session.get(Job, job_id).runner]
    return job_id


def test_runners_starting_the_same_work_at_once_get_one_job_and_one_wins(db: Database) -> None:
    race_round(db)


def _held_job(db: Database, runner: Runner) -> int:
    return claim_work(db, JobKind.ADAPT, work_key(JobKind.ADAPT, None, {}), {}, None, runner)


def test_a_live_runner_is_refused_a_dead_one_taken_over_at_once(db: Database) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = Runner.of_process(sleeper.pid)
        job_id = _held_job(db, holder)
        with pytest.raises(JobBusy, match=rf"job {job_id} is already running \(process {sleeper.pid} on "):
            claim_job(db, job_id, Runner.of_thread(), timeout_s=3600)
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its process has ended on this machine: no need to wait for the heartbeat to go stale.
    taker = Runner.of_thread()
    claim_job(db, job_id, taker, timeout_s=3600)
    with db.session() as session:
        assert session.get(Job, job_id).runner == taker.token


def test_a_runner_on_another_machine_is_taken_over_when_its_heartbeat_is_stale(db: Database) -> None:
    elsewhere = Runner("gpu-host-7/4242/1700000000.00")
    job_id = _held_job(db, elsewhere)
    with pytest.raises(JobBusy, match="GRAM_JOB_TIMEOUT_S"):
        claim_job(db, job_id, Runner.of_thread(), timeout_s=60)
    with db.session() as session:
        session.get(Job, job_id).heartbeat_at = utcnow() - timedelta(seconds=61)
    claim_job(db, job_id, Runner.of_thread(), timeout_s=60)


def test_a_runner_that_lost_its_job_writes_nothing_and_records_no_end(db: Database) -> None:
    first = Runner.of_thread()
    job_id = _held_job(db, first)
    claimed = Claimed(db, job_id, first, timeout_s=3600)
    with pytest.raises(JobLost), claimed.recorded(lambda: {"judged": 99}):
        with db.session() as session:
            session.get(Job, job_id).runner = "gpu-host-7/4242/1700000000.00"  # taken over meanwhile
        with db.session() as session:
            session.get(Job, job_id).log = "written by the runner that lost the job"
            claimed.progress(session, 5, "5 done")
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.done, job.log, job.result) == ("running", 0, "", {})
        assert job.runner.startswith("gpu-host-7/")


def test_the_heartbeat_keeps_a_slow_step_alive_and_a_finished_job_is_released(db: Database) -> None:
    runner = Runner("gpu-host-7/1/1.00")  # a runner that cannot be checked directly: only its beat counts
    job_id = _held_job(db, runner)
    claimed = Claimed(db, job_id, runner, timeout_s=0.4)
    with claimed.recorded(lambda: {}):
        time.sleep(1.2)  # one long step, three timeouts long
        with pytest.raises(JobBusy):
            claim_job(db, job_id, Runner.of_thread(), timeout_s=0.4)
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.runner) == ("succeeded", None)


def test_a_cancel_is_honoured_between_steps_never_inside_one(db: Database) -> None:
    """Progress is recorded in the transaction that holds the step's work, so recording it must not
    throw that work away; the cancel is read after the commit, by `stop_if_cancelled`."""
    runner = Runner.of_thread()
    job_id = _held_job(db, runner)
    claimed = Claimed(db, job_id, runner)
    with db.session() as session:
        request_cancel(session, job_id)
    with db.session() as session:
        claimed.progress(session, 2, "2/4", total=4)  # does not raise: the step's work commits with it
    with db.session() as session:
        assert session.get(Job, job_id).done == 2
    with pytest.raises(JobCancelled):
        claimed.stop_if_cancelled()


def gram(*args: str, home: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "GRAM_HOME": str(home), **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_gram_judge_processes_never_judge_a_pair_twice(db: Database, settings, embedded_model_dir: Path) -> None:  # noqa: ANN001
    from core.data.demo import seed_demo
    from storage.tables import Judgment

    with db.session() as session:
        seed_demo(session, settings)
    args = ["judge", "demo", "--fast", "--limit", "48", "--batch-size", "4", "--model", str(embedded_model_dir)]
    runs = [gram(*args, home=settings.home) for _ in range(2)]
    outputs = [run.communicate(timeout=800)[0] for run in runs]
    with db.session() as session:
        per_pair = list(session.scalars(select(func.count(Judgment.id)).group_by(Judgment.pair_id)))
    assert per_pair and set(per_pair) == {1}, outputs
    refused = [o for run, o in zip(runs, outputs, strict=True) if run.returncode != 0]
    assert all("is already running" in o for o in refused), outputs
    # Whoever was refused, the one job judged 48 pairs (a late second run finds them judged).
    assert len(per_pair) == 48


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gram_judge_refuses_a_held_job_and_takes_it_over_when_its_runner_stops(
    db: Database,
    settings,  # noqa: ANN001
    embedded_model_dir: Path,
) -> None:
    from core.data.datasets import get_dataset
    from core.data.demo import seed_demo
    from core.judge.work import JudgeRun
    from core.model.spec import ModelSpec
    from core.model.versions import version_for
    from storage.tables import Judgment

    with db.session() as session:
        seed_demo(session, settings)
        dataset_id = get_dataset(session, "demo").id
        version_id = version_for(session, ModelSpec(embedded_model_dir.name, str(embedded_model_dir))).id
    run = JudgeRun("demo", protocol="label-only", limit=3)
    identity = {"model_version": version_id, "options": run.options_key(), "labelled_only": False}
    key = work_key(JobKind.JUDGE, dataset_id, identity)
    holder = Runner.of_thread()  # this test's own process plays the first runner: alive, here
    job_id = claim_work(db, JobKind.JUDGE, key, {}, dataset_id, holder)
    args = ["judge", "demo", "--fast", "--limit", "3", "--model", str(embedded_model_dir)]
    refused = gram(*args, home=settings.home, GRAM_JOB_TIMEOUT_S="60")
    output = refused.communicate(timeout=600)[0]
    assert refused.returncode == 1 and f"job {job_id} is already running" in output, output
    assert "Traceback" not in output
    with db.session() as session:
        assert session.get(Job, job_id).runner == holder.token
        assert session.scalar(select(func.count()).select_from(Judgment)) == 0
        # The holder hangs: no beat for longer than the timeout, so the next run takes the job over.
        session.get(Job, job_id).heartbeat_at = utcnow() - timedelta(seconds=61)
    taking_over = gram(*args, home=settings.home, GRAM_JOB_TIMEOUT_S="60")
    output = taking_over.communicate(timeout=600)[0]
    assert taking_over.returncode == 0, output
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.done, job.runner) == ("succeeded", 3, None)
        assert list(session.scalars(select(func.count(Judgment.id)).group_by(Judgment.pair_id))) == [1, 1, 1]
    # ...and the hung holder, if it ever wakes, writes nothing.
    with pytest.raises(JobLost), db.session() as session:
        Claimed(db, job_id, holder).progress(session, 99)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_clicks_on_adapt_at_once_start_one_trainer(db: Database, settings, embedded_model_dir: Path) -> None:  # noqa: ANN001
    import psutil

    from app.context import StudioContext
    from app.pages.adapt import start_adapt
    from core.errors import GramError
    from core.review.reviews import save_review
    from storage.tables import Pair
    from tests.helpers import demo_on_embedded_model

    demo_on_embedded_model(db, settings, embedded_model_dir)
    with db.session() as session:
        for pair in session.scalars(select(Pair).where(Pair.reference_label == "A").limit(6)):
            save_review(session, pair.id, reviewer="ana", label="A")
    ctx = StudioContext(settings, db)
    barrier, outcomes = threading.Barrier(2), []

    def click() -> None:
        barrier.wait()
        try:
            outcomes.append(start_adapt(ctx, "demo", 0.3, "label-only", 2, 1, 320, False))
        except GramError as error:
            outcomes.append(str(error))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    workers = [
        p for p in psutil.Process().children() if "core.worker" in p.cmdline() and p.status() != psutil.STATUS_ZOMBIE
    ]  # `python -m core.worker JOB`
    try:
        started = [o for o in outcomes if isinstance(o, tuple)]
        assert len(started) == 1 and len(workers) == 1, outcomes
        refused = next(o for o in outcomes if isinstance(o, str))
        assert f"adapt job {started[0][0]} is already running (process {workers[0].pid} on " in refused
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 1
            assert session.get(Job, started[0][0]).runner == Runner.of_process(workers[0].pid).token
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


def test_cancelling_a_job_whose_runner_died_ends_it_at_once(db: Database) -> None:
    from core.jobs.cancel import cancel_latest

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job_id = _held_job(db, Runner.of_process(sleeper.pid))
    with db.session() as session:  # while the runner lives, a cancel is a request it will read
        assert request_cancel(session, job_id).status == "running"
    sleeper.kill()
    sleeper.wait()
    with db.session() as session:  # nobody will read it now: the page must not say "running" forever
        job = cancel_latest(session, JobKind.ADAPT)
        assert job is not None and (job.id, job.status, job.runner) == (job_id, "cancelled", None)
