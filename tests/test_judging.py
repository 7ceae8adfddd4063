"""The judging job on a real store: resume, cancel, limits, what counts as judged, the studio's
bar (with the scripted backend: the job is the subject); `gram judge` / `gram evaluate` on the
real model (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import cli
from core.data.importer import import_files
from core.judge.generative import JudgeOptions
from core.judge.run import run_judging
from core.judge.work import JudgeRun
from core.model.spec import ModelSpec
from storage.database import Database
from storage.tables import Job, Judgment
from tests.conftest import FIXTURES
from tests.fakes import ScriptedBackend

SHORT = JudgeOptions(max_new_tokens=8)


@pytest.fixture
def backend(tmp_path: Path) -> ScriptedBackend:
    return ScriptedBackend(ModelSpec("smollm2", str(tmp_path / "model")))


@pytest.fixture
def small(db: Database, tmp_path: Path) -> Path:
    """Seven short real pairs (TRL rows from LLMBar), imported as dataset 'small'."""
    rows = [json.loads(line) for line in (FIXTURES / "trl_standard.jsonl").read_text().splitlines()]
    rows.sort(key=lambda r: len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]))
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:7]))
    with db.session() as session:
        assert import_files(session, [path], dataset="small", max_bytes=2**30, max_chars=10**5).imported == 7
    return path


def judgment_counts(db: Database) -> list[int]:
    with db.session() as session:
        query = select(func.count(Judgment.id)).group_by(Judgment.pair_id)
        return list(session.scalars(query))


def test_a_crashed_job_resumes_without_judging_a_pair_twice(
    db: Database, backend: ScriptedBackend, small: Path
) -> None:
    run = JudgeRun("small", options=SHORT, batch_size=2)
    batches = []

    def crash_after_two_batches(job: Job) -> None:
        batches.append(job.done)
        if len(batches) == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        run_judging(db, backend, run, show_progress=False, on_batch=crash_after_two_batches)
    # Each batch was committed with its progress before the crash.
    assert judgment_counts(db) == [1] * 4
    with db.session() as session:
        job = session.scalars(select(Job)).one()
        assert (job.status, job.done) == ("failed", 4) and "power cut" in job.error
    resumed = run_judging(db, backend, run, show_progress=False)
    assert resumed.id == job.id and resumed.status == "succeeded" and resumed.done == 7
    assert judgment_counts(db) == [1] * 7
    with db.session() as session:
        stored = session.scalars(select(Judgment)).all()
        assert all(j.label in ("A", "B") and 0.5 <= j.confidence <= 1 for j in stored)
        assert all(j.raw_output is not None and j.job_id == job.id for j in stored)
    # Nothing left to judge: a new run judges nothing.
    assert run_judging(db, backend, run, show_progress=False).total == 0


def test_a_cancelled_job_stops_after_the_current_batch(db: Database, backend: ScriptedBackend, small: Path) -> None:
    def cancel(job: Job) -> None:
        with db.session() as other:  # as the studio would, from another session
            other.get(Job, job.id).cancel_requested = True

    job = run_judging(db, backend, JudgeRun("small", options=SHORT, batch_size=3), show_progress=False, on_batch=cancel)
    assert (job.status, job.done) == ("cancelled", 3)
    assert sum(judgment_counts(db)) == 3


def test_limit_and_fast_protocol(db: Database, backend: ScriptedBackend, small: Path) -> None:
    job = run_judging(db, backend, JudgeRun("small", protocol="label-only", limit=3), show_progress=False)
    assert job.done == 3
    with db.session() as session:
        stored = session.scalars(select(Judgment)).all()
        assert {j.protocol for j in stored} == {"label-only"} and all(j.consistent is not None for j in stored)
        assert all(len(j.orders) == 2 for j in stored)


@pytest.mark.slow
def test_gram_judge_and_evaluate_commands(
    small: Path, embedded_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    model = ["--model", str(embedded_model_dir), "--max-new-tokens", "8", "--batch-size", "4"]
    result = runner.invoke(cli, ["judge", "small", *model, "--limit", "2"], catch_exceptions=False)
    assert "2/2 pairs judged" in result.output
    result = runner.invoke(cli, ["evaluate", "small", "--fast", *model], catch_exceptions=False)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("accuracy=") and last.endswith(" n=7")
    assert "position consistency:" in result.output and "ECE:" in result.output
    # A file is judged a few pairs at a time, with a bar on standard error and only JSON on standard
    # output; a bad row is named there and the others still count.
    monkeypatch.setattr("core.evaluation.reports.EVALUATION_STEP", 3)
    broken = small.parent / "broken.jsonl"
    broken.write_text(small.read_text() + '{"prompt": "q", "chosen": 5}\n')
    result = runner.invoke(cli, ["evaluate", "--file", str(broken), "--fast", "--json", *model], catch_exceptions=False)
    figures = json.loads(result.stdout)
    assert figures["n"] == 7 and 0.0 <= figures["accuracy"] <= 1.0 and figures["consistency_n"] == 7
    assert sum(b["count"] for b in figures["reliability"]) == 7
    assert "evaluating: 100%" in result.stderr and "7/7" in result.stderr and "pair/s" in result.stderr
    assert "broken.jsonl" in result.stderr and "row 8" in result.stderr


@pytest.mark.slow
def test_gram_judge_on_the_demo_stores_judgments_that_parse(db: Database, embedded_model_dir: Path) -> None:
    from core.judge.verdict import parse_verdict

    runner = CliRunner()
    runner.invoke(cli, ["demo"], catch_exceptions=False)
    args = ["judge", "demo", "--model", str(embedded_model_dir), "--max-new-tokens", "24", "--limit", "1"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert "1/1 pairs judged" in result.output
    with db.session() as session:
        (judgment,) = session.scalars(select(Judgment)).all()
        verdict = parse_verdict(judgment.raw_output)
        assert verdict.ok and verdict.label == judgment.label and judgment.parse_error is None
        assert judgment.rationale == verdict.rationale and verdict.feedback and verdict.conclusion
        assert judgment.orders[0]["guided"] is True  # the untrained embedded model is guided by default


class CancelledDuring:
    """The real backend, with a person pressing Cancel while batch `at` is being scored."""

    def __init__(self, inner: ScriptedBackend, db: Database, at: int) -> None:
        self.inner, self.db, self.at, self.calls = inner, db, at, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def _scoring(self) -> None:
        from core.jobs.cancel import request_cancel

        self.calls += 1
        if self.calls == self.at:
            with self.db.session() as session:
                job = session.scalars(select(Job).order_by(Job.id.desc())).first()
                request_cancel(session, job.id)

    # The fast path scores a batch through one of these (with or without the head's features).
    def label_logprobs(self, slots: list) -> list:  # type: ignore[type-arg]
        self._scoring()
        return self.inner.label_logprobs(slots)

    def slot_states_and_logprobs(self, slots: list, layers: list, pools: tuple = ()) -> tuple:  # type: ignore[type-arg]
        self._scoring()
        return self.inner.slot_states_and_logprobs(slots, layers, pools)


def test_a_cancel_keeps_the_batch_that_was_running(db: Database, backend: ScriptedBackend, small: Path) -> None:
    """Cancelled while batch 2 runs: batch 2 is finished and stored, nothing after it starts."""
    run = JudgeRun("small", protocol="label-only", batch_size=2, limit=6)
    job = run_judging(db, CancelledDuring(backend, db, at=2), run, show_progress=False)  # type: ignore[arg-type]
    assert job.status == "cancelled"
    assert (job.done, job.result["judged"]) == (4, 4)
    assert sum(judgment_counts(db)) == 4


def test_already_judged_means_by_this_model_with_these_options(
    db: Database, backend: ScriptedBackend, small: Path, tmp_path: Path
) -> None:
    """Two models in folders of the same name are two judges; a run with other verdict-changing
    options (both orders) judges again; the same run again judges nothing."""
    other = ScriptedBackend(ModelSpec("smollm2", str(tmp_path / "elsewhere" / "model")))
    fast = JudgeRun("small", protocol="label-only", batch_size=4)
    assert run_judging(db, backend, fast, show_progress=False).done == 7
    assert run_judging(db, other, fast, show_progress=False).done == 7  # another model, same folder name
    assert run_judging(db, other, fast, show_progress=False).total == 0  # the same judge again: nothing to do
    plain = JudgeRun("small", options=JudgeOptions(max_new_tokens=4), limit=2, batch_size=2)
    both = JudgeRun("small", options=JudgeOptions(max_new_tokens=4, both_orders=True), limit=2, batch_size=2)
    assert run_judging(db, backend, plain, show_progress=False).done == 2
    assert run_judging(db, backend, both, show_progress=False).done == 2  # both orders after one: judged again
    with db.session() as session:
        per_pair = session.execute(
            select(Judgment.pair_id, Judgment.protocol, func.count()).group_by(Judgment.pair_id, Judgment.protocol)
        ).all()
    fast_counts = sorted(n for _, protocol, n in per_pair if protocol == "label-only")
    generative = sorted(n for _, protocol, n in per_pair if protocol == "gram-r2")
    assert (fast_counts, generative) == ([2] * 7, [2, 2])  # the same two pairs, judged in one then both orders


def test_batches_for_a_person_watching_start_with_one_pair_and_stay_small() -> None:
    from core.jobs.batches import chunks as batches

    assert [len(b) for b in batches(list(range(3)), 8, ramp=True)] == [1, 1, 1]
    sizes = [len(b) for b in batches(list(range(100)), 8, ramp=True)]
    assert sizes[0] == 1 and max(sizes) == 8 and sum(sizes) == 100
    assert [len(b) for b in batches(list(range(10)), 4)] == [4, 4, 2]  # the command line: fixed batches
    assert [i for b in batches(list(range(37)), 8, ramp=True) for i in b] == list(range(37))


def test_the_studios_run_moves_its_bar_per_pair_with_rate_and_time_left(
    db: Database, backend: ScriptedBackend, small: Path
) -> None:
    """A 3-pair generative run with batches of 8 sat at 0/3 until all three were judged; the
    studio's run now commits after each pair, with pairs/s and the time left in its log."""
    seen: list[tuple[int, str]] = []
    run = JudgeRun("small", options=SHORT, limit=3, batch_size=8, ramp=True)
    job = run_judging(db, backend, run, show_progress=False, on_batch=lambda j: seen.append((j.done, j.log)))
    assert [done for done, _ in seen] == [1, 2, 3] and job.status == "succeeded"
    assert "pairs/s" in seen[0][1] and "left" in seen[0][1].splitlines()[-1]
