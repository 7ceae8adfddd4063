"""Task adaptation: fine-tune the current judge on the pairs people reviewed, and measure honestly.

The reviewed pairs are split once and for all: a pair belongs to the held-out split when a hash
of its content (prompt and the two responses, in either order) falls under the hold-out
fraction. The split never moves as more pairs are reviewed, duplicates land on the same side,
and `plan_adaptation` checks that no held-out pair or content is in the training set.

Each reviewed pair trains with the reviewed label and the person's rationale; where the person
accepted the model's label without writing one, the model's rationale; where the label was
corrected without a rationale, the proving step writes one (core/train/proving.py), or, with proving
off, the pair trains on the label-only objective alone.

The job: proofs → the parent's figures on the held-out split → training (checkpointed,
resumable) → the new model's figures → a new, inactive model version. Every finished stage is
kept in the job's result, so a resumed job does not redo it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.backends import load_backend
from core.data.datasets import get_dataset
from core.data.identity import content_key
from core.errors import GramError
from core.evaluation.metrics import Scored, evaluate
from core.jobs.records import (
    JobCancelled,
    finish,
    get_job,
    mark_running,
    recorded,
    report_progress,
    stop_if_cancelled,
)
from core.judge.protocol import PairText, score_pairs
from core.model.spec import ModelSpec, guided_by_default
from core.model.versions import create_version, get_version, spec_of
from core.settings import Settings
from core.train.config import AdaptConfig, TrainConfig
from core.train.jobs import start_training_job
from core.train.trainer import TrainExample, TrainProgress, is_adapter, train
from core.vocab import DECISIVE, BackendName, JobKind, JobStatus, Label
from storage.database import Database
from storage.tables import Job, ModelVersion, Pair, Review


def is_held_out(key: str, fraction: float) -> bool:
    return int(key[:8], 16) / 2**32 < fraction


@dataclass(frozen=True)
class ReviewedPair:
    pair_id: int
    text: PairText
    label: str  # the reviewed label, A or B
    rationale: str | None  # the person's, or the accepted judgment's
    key: str
    source: str = ""


@dataclass(frozen=True)
class AdaptPlan:
    train: list[ReviewedPair]
    held_out: list[ReviewedPair]

    @property
    def need_proof(self) -> int:
        return sum(1 for p in self.train if p.rationale is None)


def reviewed_pairs(session: Session, dataset_id: int) -> list[ReviewedPair]:
    """The dataset's pairs with a reviewed A/B label, in id order."""
    query = (
        select(Review)
        .join(Pair, Review.pair_id == Pair.id)
        .where(Pair.dataset_id == dataset_id, Review.label.in_(DECISIVE))
        .options(selectinload(Review.pair), selectinload(Review.judgment))
        .order_by(Pair.id)
    )
    out = []
    for review in session.scalars(query):
        pair, judgment = review.pair, review.judgment
        rationale = review.rationale
        if not rationale and judgment is not None and judgment.label == review.label:
            rationale = judgment.rationale  # the person accepted the model's verdict
        out.append(
            ReviewedPair(
                pair.id,
                PairText(pair.prompt, pair.response_a, pair.response_b),
                Label(str(review.label)),  # the query keeps A/B reviews only
                rationale or None,
                content_key(pair.prompt, pair.response_a, pair.response_b),
                pair.source,
            )
        )
    return out


def plan_adaptation(session: Session, dataset: str, holdout_fraction: float) -> AdaptPlan:
    reviewed = reviewed_pairs(session, get_dataset(session, dataset).id)
    held = [p for p in reviewed if is_held_out(p.key, holdout_fraction)]
    plan = AdaptPlan([p for p in reviewed if not is_held_out(p.key, holdout_fraction)], held)
    assert_no_leak(plan.train, plan.held_out)
    return plan


def assert_no_leak(train_pairs: Sequence[ReviewedPair], held_out: Sequence[ReviewedPair]) -> None:
    """The leakage guard: no held-out pair, by id or by content, in the training set."""
    ids = {p.pair_id for p in held_out}
    keys = {p.key for p in held_out}
    leaked = [p.pair_id for p in train_pairs if p.pair_id in ids or p.key in keys]
    if leaked:
        raise GramError(f"held-out pairs would be trained on: {leaked[:10]}")


def held_out_scores(spec: ModelSpec, pairs: Sequence[ReviewedPair], batch_size: int) -> list[dict[str, Any]]:
    """The fast path's verdict on each held-out pair (both orders), against the reviewed label."""
    if not pairs:
        return []
    backend = load_backend(BackendName.TRANSFORMERS, spec, batch_size=batch_size)
    try:
        scores = score_pairs(backend, [p.text for p in pairs])
    finally:
        backend.close()
    return [
        {
            "pair_id": p.pair_id,
            "reference": p.label,
            "label": s.label,
            "confidence": s.confidence,
            "prob_a": s.prob_a,
            "consistent": s.consistent,
            "source": p.source,
        }
        for p, s in zip(pairs, scores, strict=True)
    ]


def figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    report = evaluate(
        [Scored(r["reference"], r["label"], r["confidence"], r["prob_a"], r["consistent"], r["source"]) for r in rows]
    )
    return {
        "n": report.n,
        "accuracy": report.accuracy,
        "position_consistency": report.position_consistency,
        "ece": report.ece,
    }


def fixed_and_broken(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> tuple[list[int], list[int]]:
    was = {r["pair_id"]: r["label"] == r["reference"] for r in before}
    now = {r["pair_id"]: r["label"] == r["reference"] for r in after}
    fixed = [i for i in now if now[i] and not was.get(i, False)]
    broken = [i for i in now if not now[i] and was.get(i, False)]
    return fixed, broken


def examples_for(plan: AdaptPlan, proofs: dict[str, str]) -> list[TrainExample]:
    return [
        TrainExample(
            p.pair_id,
            p.text.prompt,
            p.text.response_a,
            p.text.response_b,
            p.label,
            p.rationale or proofs.get(str(p.pair_id)),
        )
        for p in plan.train
    ]


def start_adaptation(db: Database, settings: Settings, config: AdaptConfig) -> int:
    """Create (or find the resumable) adaptation job; returns its id. The work is `run_adaptation`."""
    return start_training_job(db, settings, JobKind.ADAPT, config.dataset, config.as_dict())


def config_from_job(job: Job) -> AdaptConfig:
    return AdaptConfig.from_dict(dict(job.config["adapt"]))


def run_adaptation(db: Database, settings: Settings, job_id: int, *, show_progress: bool = True) -> Job:
    """Run (or resume) adaptation job `job_id` to the end; returns the finished job."""
    with db.session() as session:
        job = get_job(session, job_id)
        config = config_from_job(job)
        parent = get_version(session, job.config["parent_version"])
        parent_spec = spec_of(parent)
        plan = plan_adaptation(session, config.dataset, config.holdout_fraction)
        if not plan.train:
            finish(job, JobStatus.FAILED, error="no reviewed pairs to train on (review some pairs first)")
            return job
        mark_running(job, 1)
        result = dict(job.result or {})

    def stage(name: str, value: Any, line: str) -> None:
        """Keep a finished stage (committed, so a resumed job skips it), then honour a cancel."""
        result[name] = value
        with db.session() as session:
            job = get_job(session, job_id)
            job.result = dict(result)
            report_progress(job, job.done, line)
        stop_if_cancelled(db, job_id)

    with recorded(db, job_id, lambda: dict(result)):
        if "proofs" not in result:
            stage("proofs", _proofs(parent_spec, plan, config), "proofs written")
        if "before" not in result:
            rows = held_out_scores(parent_spec, plan.held_out, config.eval_batch_size)
            stage("before", {"rows": rows, "figures": figures(rows)}, f"held-out figures of {parent.name}")
        output_dir = settings.models_dir / "adapters" / f"adapt-job-{job_id}"
        if not output_dir.exists():
            trained = _train(
                db,
                job_id,
                parent_spec,
                examples_for(plan, result["proofs"]),
                output_dir,
                settings.home / "jobs" / str(job_id),
                config.train,
                show_progress,
            )
            if trained is None:
                raise JobCancelled(f"job {job_id} was cancelled")
            stage("training", trained, f"trained {trained['steps']} steps")
        new_spec = (
            ModelSpec(f"{parent.name}-adapted", parent_spec.path, str(output_dir))
            if is_adapter(output_dir)
            else ModelSpec(f"{parent.name}-adapted", str(output_dir))
        )
        rows = held_out_scores(new_spec, plan.held_out, config.eval_batch_size)
        fixed, broken = fixed_and_broken(result["before"]["rows"], rows)
        stage("after", {"rows": rows, "figures": figures(rows)}, "held-out figures of the adapted model")
        with db.session() as session:
            metrics = {
                "before": result["before"]["figures"],
                "after": result["after"]["figures"],
                "fixed": fixed,
                "broken": broken,
                "train_pairs": len(plan.train),
                "held_out_pairs": len(plan.held_out),
            }
            version = create_version(
                session,
                new_spec.name,
                new_spec,
                parent=session.get(ModelVersion, parent.id),
                job_id=job_id,
                config={
                    "dataset": config.dataset,
                    **config.as_dict(),
                    "train_pair_ids": [p.pair_id for p in plan.train],
                    "held_out_pair_ids": [p.pair_id for p in plan.held_out],
                },
                metrics=metrics,
            )
            result.update(
                {k: v for k, v in metrics.items() if k not in ("before", "after")},
                version=version.name,
                version_id=version.id,
            )
    with db.session() as session:
        return get_job(session, job_id)


def _proofs(spec: ModelSpec, plan: AdaptPlan, config: AdaptConfig) -> dict[str, str]:
    """A rationale for each corrected label that has none, keyed by pair id."""
    missing = [p for p in plan.train if p.rationale is None]
    if not missing or not config.prove_missing:
        return {}
    from core.train.proving import prove

    backend = load_backend(BackendName.TRANSFORMERS, spec, batch_size=config.eval_batch_size)
    try:
        proofs = prove(
            backend,
            [p.text for p in missing],
            [p.label for p in missing],
            k=config.proof_samples,
            max_new_tokens=config.proof_max_tokens,
            guided=guided_by_default(spec),
        )
    finally:
        backend.close()
    return {str(p.pair_id): found[0].rationale for p, found in zip(missing, proofs, strict=True) if found}


def _train(
    db: Database,
    job_id: int,
    spec: ModelSpec,
    examples: list[TrainExample],
    output_dir: Path,
    work_dir: Path,
    config: TrainConfig,
    show_progress: bool,
) -> dict[str, Any] | None:
    """Train with progress in the job record; None if cancelled."""

    def on_progress(progress: TrainProgress) -> bool:
        with db.session() as session:
            job = get_job(session, job_id)
            job.total = progress.max_steps
            loss = f", loss {progress.loss:.4f}" if progress.loss is not None else ""
            eta = f", ETA {progress.eta_s:.0f} s" if progress.eta_s is not None else ""
            report_progress(job, progress.step, f"step {progress.step}/{progress.max_steps}{loss}{eta}")
            return not job.cancel_requested

    outcome = train(spec, examples, output_dir, work_dir, config, on_progress=on_progress, show_progress=show_progress)
    if outcome.stopped:
        return None
    return {
        "steps": outcome.steps,
        "losses": outcome.losses,
        "eval_losses": outcome.eval_losses,
        "resumed_from": outcome.resumed_from,
        "seconds": outcome.seconds,
        "examples": outcome.examples,
        "skipped": outcome.skipped,
    }
