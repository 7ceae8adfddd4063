"""The held-out guard, through `gram adapt`, `gram worker` and `gram selftrain` themselves: a job's
split is frozen when it starts, no pair an ancestor trained on is measured, and self-training
never pseudo-labels a held-out pair's duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import cli
from core.data.datasets import get_dataset
from core.data.identity import content_key
from core.data.importer import import_files
from core.model.versions import get_version
from core.review.reviews import save_review
from core.train.adaptation import start_adaptation
from core.train.config import AdaptConfig, TrainConfig
from core.train.split import is_held_out
from storage.database import Database
from storage.tables import Job, Judgment, Pair
from tests.helpers import demo_on_embedded_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
TRAIN = ["--no-prove", "--objective", "label-only", "--max-steps", "2", "--train-batch-size", "2"]
TRAIN += ["--max-length", "320"]


def _position(pair: Pair) -> float:
    """Where the pair's content falls in [0, 1): held out at fraction f when under f."""
    return int(content_key(pair.prompt, pair.response_a, pair.response_b)[:8], 16) / 2**32


def _shortest(pairs: list[Pair], low: float, high: float, n: int) -> list[Pair]:
    inside = [p for p in pairs if low <= _position(p) < high]
    chosen = sorted(inside, key=lambda p: len(p.prompt + p.response_a + p.response_b))
    assert len(chosen) >= n
    return chosen[:n]


def test_adapt_never_measures_what_an_ancestor_trained_on_and_keeps_its_frozen_split(
    db: Database,
    settings,  # noqa: ANN001
    embedded_model_dir: Path,
) -> None:
    demo_on_embedded_model(db, settings, embedded_model_dir)
    with db.session() as session:
        labelled = list(session.scalars(select(Pair).where(Pair.reference_label.in_(("A", "B")))))
        never_trained = _shortest(labelled, 0.0, 0.2, 2)  # held out at 0.2 and at 0.6
        trained_first = _shortest(labelled, 0.2, 0.6, 3)  # trains at 0.2, held out by hash at 0.6
        always_train = _shortest(labelled, 0.6, 1.0, 3)
        later = _shortest(labelled, 0.0, 0.2, 3)[-1]  # held out by hash, reviewed after the second job started
        for pair in never_trained + trained_first + always_train:
            save_review(session, pair.id, reviewer="ana", label=pair.reference_label)
        ids = {name: [p.id for p in group] for name, group in [("never", never_trained), ("first", trained_first)]}
        flipped, later_id = never_trained[0], later.id
        flipped_id, flipped_label = flipped.id, flipped.reference_label

    runner = CliRunner()
    first = runner.invoke(cli, ["adapt", "demo", "--holdout", "0.2", *TRAIN], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    # Two held-out pairs: accuracies with their intervals, and no verdict drawn from them.
    assert "held-out accuracy on 2 pairs: before " in first.output and "(95% CI " in first.output
    assert "verdict: none yet: 2 held-out pairs, and a verdict needs at least 20" in first.output
    with db.session() as session:
        v1 = session.scalars(select(Job).where(Job.kind == "adapt")).one().result["version"]
        assert set(ids["first"]) <= set(get_version(session, v1).config["train_pair_ids"])
    assert runner.invoke(cli, ["models", "activate", v1]).exit_code == 0

    # The second job starts (its split frozen), then people keep reviewing before a worker runs it.
    train = TrainConfig(objective="label-only", max_steps=2, batch_size=2, max_length=320)
    job_id = start_adaptation(db, settings, AdaptConfig("demo", 0.6, prove_missing=False, train=train))
    with db.session() as session:
        save_review(session, later_id, reviewer="ana", label="A")
        save_review(session, flipped_id, reviewer="bo", label="B" if flipped_label == "A" else "A")
    second = runner.invoke(cli, ["worker", str(job_id)], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job.status == "succeeded", job.error
        rows = job.result["after"]["rows"]
        # Measured on the pairs never trained on: not on what v1 trained on, not on the later review.
        assert sorted(r["pair_id"] for r in rows) == sorted(ids["never"])
        assert job.result["left_out_pairs"] == len(ids["first"])
        # ...against the labels they had when the job started.
        assert {r["pair_id"]: r["reference"] for r in rows}[flipped_id] == flipped_label
        v2 = get_version(session, job.result["version_id"])
        assert not set(v2.config["held_out_pair_ids"]) & set(v2.config["train_pair_ids"])
        assert later_id not in v2.config["train_pair_ids"]


def test_selftrain_never_pseudo_labels_a_held_out_pairs_duplicate(
    db: Database,
    settings,  # noqa: ANN001
    embedded_model_dir: Path,
    tmp_path: Path,
) -> None:
    demo_on_embedded_model(db, settings, embedded_model_dir)
    with db.session() as session:
        labelled = list(session.scalars(select(Pair).where(Pair.reference_label.in_(("A", "B")))))
        held = _shortest(labelled, 0.0, 0.5, 1)[0]
        trains = _shortest(labelled, 0.5, 1.0, 5)
        rows = [
            {"prompt": p.prompt, "response_a": p.response_a, "response_b": p.response_b, "label": p.reference_label}
            for p in [held, *trains]
        ]
    # The held-out pair's swap, and three pairs nobody reviewed, in a dataset of their own.
    swapped = "B" if rows[0]["label"] == "A" else "A"
    twin = {**rows[0], "response_a": rows[0]["response_b"], "response_b": rows[0]["response_a"], "label": swapped}
    path = tmp_path / "team.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, twin]))
    with db.session() as session:
        import_files(session, [path], dataset="team", max_bytes=2**30, max_chars=10**5)
        team = get_dataset(session, "team").id
        pairs = list(session.scalars(select(Pair).where(Pair.dataset_id == team).order_by(Pair.id)))
        assert is_held_out(content_key(pairs[0].prompt, pairs[0].response_a, pairs[0].response_b), 0.5)
        for pair in pairs[:3]:  # the held-out pair and two that train; the rest are unreviewed
            save_review(session, pair.id, reviewer="ana", label=pair.reference_label)
        twin_id, unreviewed = pairs[-1].id, {p.id for p in pairs[3:-1]}

    args = ["selftrain", "team", "--holdout", "0.5", "--pairs", "10", "--votes", "1", "--threshold", "0.5"]
    args += ["--label-max-tokens", "16", "--proofs", "1", "--proof-max-tokens", "24", "--batch-size", "4"]
    args += ["--objective", "label-only", "--max-steps", "1", "--train-batch-size", "2", "--max-length", "320"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with db.session() as session:
        pseudo = {j.pair_id for j in session.scalars(select(Judgment).where(Judgment.origin == "selftrain"))}
        assert pseudo == unreviewed and twin_id not in pseudo
