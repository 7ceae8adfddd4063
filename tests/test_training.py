"""Training: the loss, the training rows, a real adaptation on CPU, the frozen split, self-training."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.data.identity import content_key
from core.errors import GramError
from core.model.spec import ModelSpec
from core.model.versions import activate, active_version, get_version, spec_of, version_for
from core.review.reviews import save_review
from core.text.pair import PairText
from core.train.adaptation import run_adaptation, start_adaptation
from core.train.config import AdaptConfig, TrainConfig
from core.train.split import LabelledPair, assert_no_leak, is_held_out, plan_adaptation
from core.train.trainer import CUT, SWAP_REFUSED, TOO_LONG, gram_loss, swap_rationale, training_rows
from storage.database import Database
from storage.tables import Dataset, Job, Judgment, ModelVersion, Pair, Review

RATIONALE = (
    "Feedback: Response A gives the capital. Response B names a different city.\n"
    "Comparision: Response A is correct and Response B is not.\n"
    "Conclusion: Response A is better."
)


def test_gram_loss_adds_the_smoothed_two_way_cross_entropy_at_the_last_label_token() -> None:
    vocab, a, b = 6, 2, 3
    logits = torch.randn(1, 5, vocab)
    labels = torch.tensor([[-100, 4, a, b, 5]])  # reply: token 4, an 'A' in the text, the label 'B', end
    token_nll = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:])
    at = 2  # the logits predicting labels[3] (the last A/B token)
    two_way = logits[0, at, [a, b]]
    smoothed = -(0.95 * torch.log_softmax(two_way, -1)[1] + 0.05 * torch.log_softmax(two_way, -1)[0])
    got = gram_loss(logits, labels, a, b, label_weight=2.0, smoothing=0.1)
    assert math.isclose(got.item(), (token_nll + 2.0 * smoothed).item(), rel_tol=1e-5)
    assert math.isclose(gram_loss(logits, labels, a, b, 0.0, 0.1).item(), token_nll.item(), rel_tol=1e-6)


def test_swap_rationale_swaps_every_name_or_refuses() -> None:
    """In the swapped order every reference to a response changes letter, or the rationale is not
    used: a bare 'A is better' kept while the label flips would teach the opposite."""
    assert swap_rationale("Response A is better than response B.") == "Response B is better than response A."
    assert swap_rationale("Output (A) beats Assistant B's; Answer A wins.") == (
        "Output (B) beats Assistant A's; Answer B wins."
    )
    for ambiguous in (
        "A is better than B.",
        "Response A is better; A plus B.",
        "Both (A) and (B) try.",
        "Conclusion: B.",
    ):
        assert swap_rationale(ambiguous) is None, ambiguous
    assert swap_rationale("a response that says a thing") == "a response that says a thing"  # no letters


def test_the_rule_check_reads_bare_letters_too() -> None:
    from core.train.proving import rule_check

    proof = "Feedback: x\nComparision: y\nConclusion: A is better."
    assert rule_check(proof, "B", tokens=10, max_tokens=100) == "does not support the label"
    assert rule_check(proof, "A", tokens=10, max_tokens=100) is None


@pytest.mark.slow
def test_training_rows_are_the_judges_prompts_in_both_orders(embedded_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    example = LabelledPair(1, PairText("What is the capital of France?", "Paris.", "Lyon."), "A", RATIONALE)
    rows = training_rows([example], tokenizer, TrainConfig(objective="both", max_length=1024))
    assert [r["completion"][-11:] if len(r["completion"]) > 1 else r["completion"] for r in rows] == [
        "A\n</answer>",
        "A",
        "B\n</answer>",
        "B",
    ]
    assert "Response B gives the capital" in rows[2]["completion"]  # swapped names in the swapped order
    assert rows[2]["prompt"].index("Lyon.") < rows[2]["prompt"].index("Paris.")
    assert all(r["prompt"].endswith("<|im_start|>assistant\n") for r in rows)
    # A rationale that names a response by a bare letter cannot be swapped: that view trains its label alone.
    skipped: Counter[str] = Counter()
    bare = LabelledPair(
        2, PairText("Capital of France?", "Paris.", "Lyon."), "A", "Feedback: A is right.\nConclusion: A."
    )
    rows = training_rows([bare], tokenizer, TrainConfig(objective="both", max_length=1024), skipped)
    assert [r["completion"][-11:] if len(r["completion"]) > 1 else r["completion"] for r in rows] == [
        "A\n</answer>",
        "A",
        "B",
    ]
    assert skipped == {SWAP_REFUSED: 1}
    # One over-long example (a rationale longer than max_length allows) is left out and counted;
    # the run goes on with the others, and prompts cut to fit are counted too.
    skipped = Counter()
    long_one = LabelledPair(3, PairText("Capital?", "Paris.", "Lyon."), "A", RATIONALE + " Response A." * 200)
    rows = training_rows([example, long_one], tokenizer, TrainConfig(objective="both", max_length=1024), skipped)
    assert len(rows) == 6 and skipped[TOO_LONG] == 2 and not skipped[CUT]
    skipped = Counter()
    long_prompt = LabelledPair(4, PairText("Why? " * 600, "Paris.", "Lyon."), "A", None)
    training_rows([long_prompt], tokenizer, TrainConfig(objective="label-only", max_length=512), skipped)
    assert skipped[CUT] == 2
    with pytest.raises(GramError, match="too short"):
        training_rows([example], tokenizer, TrainConfig(objective="rationale", max_length=300))


def _review(session: Session, pairs: list[Pair], rationale_every: int = 0) -> None:
    for i, pair in enumerate(pairs):
        rationale = None
        if rationale_every and i % rationale_every == 0:
            rationale = RATIONALE.replace("Response A is better", f"Response {pair.reference_label} is better")
        save_review(session, pair.id, reviewer="tester", label=pair.reference_label, rationale=rationale)


def _short_pairs(session: Session, n: int) -> list[Pair]:
    """Labelled demo pairs, shortest first (training on CPU is slow)."""
    pairs = session.scalars(select(Pair).where(Pair.reference_label.in_(("A", "B")))).all()
    return sorted(pairs, key=lambda p: len(p.prompt) + len(p.response_a) + len(p.response_b))[:n]


def test_held_out_split_is_frozen_and_guarded(session: Session) -> None:
    dataset = Dataset(name="d", source="test")
    session.add(dataset)
    session.flush()
    for i in range(40):
        session.add(
            Pair(
                dataset_id=dataset.id,
                prompt=f"q{i}",
                response_a="a",
                response_b="b",
                reference_label="A",
                content_hash=f"h{i}",
                source="t",
            )
        )
    session.flush()
    pairs = session.scalars(select(Pair).order_by(Pair.id)).all()
    _review(session, pairs[:20])
    first = plan_adaptation(session, "d", 0.25)
    _review(session, pairs[20:])
    second = plan_adaptation(session, "d", 0.25)
    assert first.held_out and first.train
    # More reviews never move a pair across the split.
    assert {p.pair_id for p in first.held_out} <= {p.pair_id for p in second.held_out}
    assert not {p.pair_id for p in second.train} & {p.pair_id for p in second.held_out}
    # A pair and its swap (or a duplicate under another id) share one side.
    assert content_key("q", "a", "b") == content_key("q", "b", "a")
    held = first.held_out[0]
    twin = LabelledPair(
        999,
        PairText(held.text.prompt, held.text.response_b, held.text.response_a),
        "B",
        None,
        content_key(held.text.prompt, held.text.response_b, held.text.response_a),
    )
    assert is_held_out(twin.key, 0.25)
    with pytest.raises(GramError, match="held-out pairs would be trained on"):
        assert_no_leak([*first.train, twin], first.held_out)


@pytest.mark.slow
def test_adaptation_trains_saves_and_changes_the_models_answers(
    db: Database, settings, embedded_model_dir: Path
) -> None:
    from core.data.demo import seed_demo
    from core.train.trainer import latest_checkpoint

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / embedded_model_dir.name).symlink_to(embedded_model_dir)
    with db.session() as session:
        seed_demo(session, settings)
        chosen = _short_pairs(session, 10)
        _review(session, chosen, rationale_every=4)
        base = version_for(session, spec_of_embedded(settings))
        activate(session, base)
        reviews_before = {r.pair_id: (r.label, r.rationale, r.version) for r in session.scalars(select(Review))}

    train = TrainConfig(
        objective="label-only",
        max_steps=6,
        batch_size=4,
        learning_rate=1e-3,
        max_length=320,
        save_steps=3,
        val_fraction=0.0,
    )
    config = AdaptConfig(dataset="demo", holdout_fraction=0.3, prove_missing=False, train=train)
    job = run_adaptation(db, settings, start_adaptation(db, settings, config), show_progress=False)
    assert job.status == "succeeded", job.error
    result = job.result
    losses = [loss for _, loss in result["training"]["losses"]]
    assert len(losses) == 6 and sum(losses[-2:]) < sum(losses[:2])  # the loss falls

    with db.session() as session:
        version = get_version(session, result["version_id"])
        assert not version.is_active and active_version(session).id == base.id  # activation is a choice
        assert version.parent_id == base.id and version.training_job_id == job.id
        assert Path(version.adapter_path, "adapter_config.json").exists()
        assert latest_checkpoint(settings.home / "jobs" / str(job.id)) is not None
        held_ids = set(version.config["held_out_pair_ids"])
        assert held_ids and held_ids == {r["pair_id"] for r in result["after"]["rows"]}
        assert not held_ids & set(version.config["train_pair_ids"])  # the frozen split is not trained on
        assert {r.pair_id: (r.label, r.rationale, r.version) for r in session.scalars(select(Review))} == reviews_before
        spec = spec_of(version)

    before = {r["pair_id"]: r["prob_a"] for r in result["before"]["rows"]}
    after = {r["pair_id"]: r["prob_a"] for r in result["after"]["rows"]}
    assert max(abs(before[i] - after[i]) for i in before) > 1e-3  # the adapter changes the answers
    # The stored version loads back through the judge's backend and gives the job's numbers.
    from core.backends import load_backend
    from core.head.fast_path import score_pairs

    with db.session() as session:
        held = [session.get(Pair, i) for i in sorted(held_ids)]
        texts = [PairText(p.prompt, p.response_a, p.response_b) for p in held]
    backend = load_backend("transformers", spec)
    reloaded = score_pairs(backend, texts)
    assert [round(s.prob_a, 4) for s in reloaded] == [round(after[i], 4) for i in sorted(held_ids)]


def spec_of_embedded(settings) -> ModelSpec:  # noqa: ANN001
    from core.model.spec import resolve_model

    return resolve_model(settings)


@pytest.mark.slow
def test_selftrain_iteration_counts_each_filter(
    db: Database,
    settings,  # noqa: ANN001
    embedded_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.backends import configured_backend
    from core.data.demo import seed_demo
    from core.train.config import SelfTrainConfig
    from core.train.proving import rule_check
    from core.train.selftrain import run_selftrain, start_selftrain

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / embedded_model_dir.name).symlink_to(embedded_model_dir)
    with db.session() as session:
        seed_demo(session, settings)
        shortest = _short_pairs(session, 8)
        _review(session, shortest[4:])  # 4 reviewed pairs train too; the 4 shortest others are unlabelled
        unlabelled = {p.id for p in shortest[:4]}
        # Keep the batch to the 4 shortest: other pairs count as reviewed for this test.
        for pair in session.scalars(select(Pair).where(Pair.id.not_in(unlabelled | {p.id for p in shortest[4:]}))):
            save_review(session, pair.id, reviewer="tester", label="tie")
    config = SelfTrainConfig(
        dataset="demo",
        pairs_per_iteration=4,
        votes=2,
        threshold=0.5,
        label_max_tokens=24,
        proof_samples=2,
        proof_max_tokens=48,
        max_rationale_tokens=40,
        holdout_fraction=0.0,
        batch_size=4,
        train=TrainConfig(objective="both", max_steps=1, batch_size=2, max_length=640, val_fraction=0.0),
    )
    from core.train import selftrain

    loaded: list[str] = []

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202  (the real backend, its loads counted)
        backend = configured_backend(*args, **kwargs)
        loaded.append(backend.spec.path)
        return backend

    monkeypatch.setattr(selftrain, "configured_backend", counted)
    job = run_selftrain(db, settings, start_selftrain(db, settings, config), show_progress=False)
    assert job.status == "succeeded", job.error
    figures = job.result["iterations"][0]
    # The labeller proves its own labels (no --prover): one model load for both steps.
    assert len(loaded) == 1
    with db.session() as session:
        judged = session.scalars(select(Judgment).where(Judgment.origin == "selftrain")).all()
        assert {j.pair_id for j in judged} == unlabelled
        dropped = {}
        for j in judged:
            reason = j.votes["dropped_by"]
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
            assert j.votes["k"] == 2 and j.votes["iteration"] == 1
            if j.confidence < 0.5:
                assert reason == "confidence"
            else:  # the proof was checked by the rules; recheck with the stored proof
                tokens = len(_tokenizer(embedded_model_dir).encode(j.rationale, add_special_tokens=False))
                assert reason == rule_check(j.rationale, j.label, tokens=tokens, max_tokens=40)
                assert j.votes["proof_score"] <= 0
        assert any(j.votes["proof_score"] is not None for j in judged)  # the proving step ran
        assert figures["labelled"] == 4 and figures["dropped"] == dropped
        assert figures["kept"] == 4 - sum(dropped.values())
        pairs = {p.id: p for p in session.scalars(select(Pair).where(Pair.id.in_(unlabelled)))}
        right = sum(j.label == pairs[j.pair_id].reference_label for j in judged)
        assert figures["pseudo_label_accuracy_all"] == {"n": 4, "accuracy": right / 4}
        version = get_version(session, figures["version_id"])
        assert version.adapter_path and version.metrics["kept"] == figures["kept"]
        assert session.get(Job, job.id).status == "succeeded"


def _tokenizer(folder: Path):  # noqa: ANN202
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_proof_selection_score_on_known_log_probabilities() -> None:
    from core.train.proving import Proof, proof_score, select_proof

    # Score = -log p(z|s,l) / log p(z): likely given the task, unlikely on its own, wins.
    assert proof_score(-10.0, -40.0) == pytest.approx(-0.25)
    assert proof_score(-30.0, -40.0) == pytest.approx(-0.75)
    generic = Proof("generic", proof_score(-8.0, -9.0), -8.0, -9.0)  # as likely without the task: -0.89
    specific = Proof("specific", proof_score(-12.0, -60.0), -12.0, -60.0)  # -0.2
    assert select_proof([generic, specific]) is specific
    assert proof_score(0.0, 0.0) == float("-inf")


def test_rule_checks() -> None:
    from core.train.proving import rule_check

    assert rule_check(RATIONALE, "A", tokens=50, max_tokens=100) is None
    assert rule_check(RATIONALE, "A", tokens=150, max_tokens=100) == "too long"
    assert rule_check(RATIONALE, "B", tokens=50, max_tokens=100) == "does not support the label"
    assert rule_check("Response A is better.", "A", tokens=5, max_tokens=100) == "format"
    assert rule_check(RATIONALE + "\n<answer>A</answer>", "A", tokens=50, max_tokens=100) == "format"


@pytest.mark.slow
def test_killed_adaptation_keeps_the_active_model_and_resumes(db: Database, settings, embedded_model_dir: Path) -> None:
    """A real `gram adapt` process is killed (SIGKILL) after its first checkpoint, then resumed by a worker."""
    import os
    import signal
    import subprocess
    import sys

    from core.data.demo import seed_demo
    from core.train.trainer import latest_checkpoint
    from tests.helpers import wait_for

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / embedded_model_dir.name).symlink_to(embedded_model_dir)
    with db.session() as session:
        seed_demo(session, settings)
        _review(session, _short_pairs(session, 8), rationale_every=3)
        base = activate(session, version_for(session, spec_of_embedded(settings)))
        reviews_before = {r.pair_id: (r.label, r.rationale, r.version) for r in session.scalars(select(Review))}
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "adapt",
        "demo",
        "--method",
        "lora",  # a fine-tune, whose checkpoints a kill must not lose
        "--no-prove",
        "--objective",
        "label-only",
        "--max-steps",
        "8",
        "--save-steps",
        "2",
        "--max-length",
        "320",
        "--train-batch-size",
        "2",
        "--holdout",
        "0.3",
    ]
    env = {**os.environ, "GRAM_HOME": str(settings.home)}
    root = Path(__file__).resolve().parents[1]
    first = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def job() -> Job | None:
        with db.session() as session:
            return session.scalars(select(Job).where(Job.kind == "adapt")).first()

    def checkpointed() -> bool:
        found = job()
        return (
            found is not None
            and latest_checkpoint(settings.home / "jobs" / str(found.id)) is not None
            and found.done >= 3
        )

    wait_for(checkpointed, seconds=600, what="the adaptation's first checkpoint", process=first, interval=1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = job()
    assert killed.status == "running" and "before" in killed.result  # the finished stage is kept
    with db.session() as session:
        assert active_version(session).id == base.id
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 1  # no half-made version
        assert {r.pair_id: (r.label, r.rationale, r.version) for r in session.scalars(select(Review))} == reviews_before
    assert not (settings.models_dir / "adapters" / f"adapt-job-{killed.id}").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", str(killed.id)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    done = job()
    assert done.status == "succeeded", done.error
    training = done.result["training"]
    assert training["resumed_from"] and training["steps"] == 8
    resumed_at = int(training["resumed_from"].rsplit("-", 1)[1])
    assert resumed_at >= 2 and [step for step, _ in training["losses"]] == list(range(resumed_at + 1, 9))
    with db.session() as session:
        assert active_version(session).id == base.id  # the new version waits to be activated
        assert get_version(session, done.result["version_id"]).parent_id == base.id


@pytest.mark.slow
def test_gradient_accumulation_gives_the_loss_of_the_whole_batch(embedded_model_dir: Path, tmp_path: Path) -> None:
    """2 micro-batches of 2 accumulated must weigh like one batch of 4 (the loss, hence the gradient,
    was N times too large when the custom loss ignored the accumulation)."""
    from core.train.trainer import train

    examples = [
        LabelledPair(i, PairText(f"Which is right, {i}?", f"Answer {i} is this.", f"No, {i} is that."), "AB"[i % 2])
        for i in range(4)
    ]
    spec = ModelSpec("smollm2", str(embedded_model_dir))
    losses = {}
    for batch, accumulation in ((4, 1), (2, 2)):
        config = TrainConfig(
            objective="label-only",
            swap_augment=False,
            max_steps=1,
            batch_size=batch,
            grad_accum=accumulation,
            learning_rate=1e-9,
            max_length=320,
            val_fraction=0.0,
        )
        result = train(
            spec, examples, tmp_path / f"out-{batch}", tmp_path / f"work-{batch}", config, show_progress=False
        )
        losses[batch] = result.losses[0][1]
    assert losses[2] == pytest.approx(losses[4], rel=0.02), losses
