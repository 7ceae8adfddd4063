"""Task adaptation: fine-tune the current judge on the pairs people reviewed, and measure honestly.

The reviewed pairs are split by content (core/train/split.py): the split is frozen when the job
starts, never measures a pair the model or its ancestors trained on, and never trains on a
held-out pair or its duplicate.

Each reviewed pair trains with the reviewed label and the person's rationale; where the person
accepted the model's label without writing one, the model's rationale; where the label was
corrected without a rationale, the proving step writes one (core/train/proving.py), or, with proving
off, the pair trains on the label-only objective alone.

The job: proofs → the parent's figures on the held-out split → training (checkpointed,
resumable) → the new model's figures → a new, inactive model version. Every finished stage is
kept in the job's result, so a resumed job does not redo it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.backends import load_backend
from core.data.judgments import by_construction
from core.evaluation.comparison import BeforeAfter, compare
from core.evaluation.metrics import Scored, evaluate, is_correct
from core.head.classifier import is_head
from core.head.fast_path import kept_head_scores, score_pairs_and_features
from core.head.features import feature_source, store_features
from core.head.fitting import train_head
from core.jobs.lifecycle import Claimed, JobCancelled, finish, get_job, mark_running, rate_line
from core.model.spec import ModelSpec, guided_by_default
from core.model.versions import create_version, get_version, spec_of
from core.settings import Settings
from core.train.config import AdaptConfig, TrainConfig
from core.train.jobs import claim_training, start_training_job
from core.train.split import AdaptPlan, LabelledPair, freeze_split, frozen_plan
from core.train.trainer import TrainProgress, is_adapter, train
from core.vocab import BackendName, JobKind, JobStatus, verdict_for
from storage.database import Database
from storage.tables import Job, ModelVersion


def held_out_scores(
    db: Database, spec: ModelSpec, pairs: Sequence[LabelledPair], batch_size: int
) -> list[dict[str, Any]]:
    """The fast path's verdict on each held-out pair (both orders), against the reviewed label. A
    head scores the pairs whose features are kept from them; the model reads only the others, and
    their features are kept (the adapted head's figures then read them)."""
    if not pairs:
        return []
    backend = load_backend(BackendName.TRANSFORMERS, spec, batch_size=batch_size)
    try:
        kept = kept_head_scores(db, backend, [p.pair_id for p in pairs])
        todo = [p for p in pairs if p.pair_id not in kept]
        fresh, features = score_pairs_and_features(backend, [p.text for p in todo]) if todo else ([], None)
        read = dict(zip([p.pair_id for p in todo], fresh, strict=True))
        source = feature_source(db, backend)
        if source is not None and features is not None:  # kept: the "after" figures of a head read them
            with db.session() as session:
                store_features(session, source, [p.pair_id for p in todo], features)
    finally:
        backend.close()
    scores = [kept[p.pair_id] if p.pair_id in kept else read[p.pair_id] for p in pairs]
    return [
        {
            "pair_id": p.pair_id,
            "reference": p.label,
            "label": s.label,
            "confidence": s.confidence,
            "prob_a": s.prob_a,
            "consistent": s.consistent,
            "by_construction": by_construction(s.orders),
            "source": p.source,
        }
        for p, s in zip(pairs, scores, strict=True)
    ]


def figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    report = evaluate(
        [
            Scored(
                r["reference"],
                r["label"],
                r["confidence"],
                r["prob_a"],
                r["consistent"],
                r["source"],
                by_construction=bool(r.get("by_construction")),
            )
            for r in rows
        ]
    )
    return {
        "n": report.n,
        "accuracy": report.accuracy,
        "accuracy_ci": report.accuracy_ci,
        "position_consistency": report.position_consistency,
        "consistent_by_construction": report.consistent_by_construction,
        "ece": report.ece,
    }


def figures_of(probs: Sequence[float], labels: Sequence[str], consistent: Sequence[bool]) -> dict[str, Any]:
    """`figures` of P(A) per pair against its label (benchmarks score outside the store)."""
    rows = [
        {
            "reference": y,
            "label": verdict_for(p),
            "confidence": max(p, 1 - p),
            "prob_a": p,
            "consistent": ok,
            "source": "",
        }
        for p, y, ok in zip(probs, labels, consistent, strict=True)
    ]
    return figures(rows)


def _right(rows: Sequence[dict[str, Any]]) -> dict[int, bool]:
    return {
        r["pair_id"]: is_correct(Scored(r["reference"], r["label"], r["confidence"], r["prob_a"], r["consistent"]))
        for r in rows
    }


def before_and_after(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]
) -> tuple[list[int], list[int], BeforeAfter]:
    """The held-out pairs fixed and broken, and the paired comparison of the two models."""
    was, now = _right(before), _right(after)
    shared = [i for i in now if i in was]
    fixed = [i for i in shared if now[i] and not was[i]]
    broken = [i for i in shared if not now[i] and was[i]]
    return fixed, broken, compare([was[i] for i in shared], [now[i] for i in shared])


def examples_for(plan: AdaptPlan, proofs: dict[str, str]) -> list[LabelledPair]:
    return [replace(p, rationale=p.rationale or proofs.get(str(p.pair_id))) for p in plan.train]


def start_adaptation(db: Database, settings: Settings, config: AdaptConfig, *, owner: str | None = None) -> int:
    """Create (or find the resumable) adaptation job, its split frozen; returns its id. The work is
    `run_adaptation`."""
    job_id = start_training_job(db, settings, JobKind.ADAPT, config.dataset, config.as_dict(), owner=owner)
    freeze_split(db, job_id, config.dataset, config.holdout_fraction)
    return job_id


def config_from_job(job: Job) -> AdaptConfig:
    return AdaptConfig.from_dict(dict(job.config["adapt"]))


def run_adaptation(db: Database, settings: Settings, job_id: int, *, show_progress: bool = True) -> Job:
    """Run (or resume) adaptation job `job_id` to the end; returns the finished job. JobBusy if
    another live process runs it."""
    claimed = claim_training(db, settings, job_id)
    with db.session() as session:
        config = config_from_job(get_job(session, job_id))
    freeze_split(db, job_id, config.dataset, config.holdout_fraction)  # a job queued before splits were frozen
    with db.session() as session:
        job = get_job(session, job_id)
        parent = get_version(session, job.config["parent_version"])
        parent_spec = spec_of(parent)
        plan = frozen_plan(session, config.dataset, job.result["split"])
        if not plan.train:
            finish(job, JobStatus.FAILED, error="no reviewed pairs to train on (review some pairs first)")
            job.runner = None
            return job
        mark_running(job, 1)
        result = dict(job.result or {})

    def stage(name: str, value: Any, line: str) -> None:
        """Keep a finished stage (committed, so a resumed job skips it), then honour a cancel."""
        result[name] = value
        with db.session() as session:
            claimed.progress(session, line=line).result = dict(result)
        claimed.stop_if_cancelled()

    head = config.train.method == "head"  # a head learns labels: no rationales, no proofs
    with claimed.recorded(lambda: dict(result)):
        if "proofs" not in result:
            stage("proofs", {} if head else _proofs(parent_spec, plan, config), "proofs written")
        if "before" not in result:
            rows = held_out_scores(db, parent_spec, plan.held_out, config.eval_batch_size)
            stage("before", {"rows": rows, "figures": figures(rows)}, f"held-out figures of {parent.name}")
        if head:
            folder = settings.models_dir / "heads" / f"adapt-job-{job_id}"
            new_spec = _head(stage, claimed, db, folder, parent_spec, plan, config, show_progress)
        else:
            new_spec = _adapter(stage, claimed, settings, parent_spec, plan, config, result, show_progress)
        if "after" not in result:
            rows = held_out_scores(db, new_spec, plan.held_out, config.eval_batch_size)
            stage("after", {"rows": rows, "figures": figures(rows)}, "held-out figures of the adapted model")
        if "version_id" not in result:  # else made, and kept with the result, before the process stopped
            _make_version(claimed, parent, new_spec, plan, config, result)
    return _finished(db, job_id)


def _finished(db: Database, job_id: int) -> Job:
    with db.session() as session:
        return get_job(session, job_id)


def _make_version(
    claimed: Claimed,
    parent: ModelVersion,
    spec: ModelSpec,
    plan: AdaptPlan,
    config: AdaptConfig,
    result: dict[str, Any],
) -> None:
    """The new (inactive) version, committed together with the result that names it, so a resumed
    job never makes a second one."""
    fixed, broken, comparison = before_and_after(result["before"]["rows"], result["after"]["rows"])
    metrics = {
        "comparison": comparison.as_dict(),
        "before": result["before"]["figures"],
        "after": result["after"]["figures"],
        "fixed": fixed,
        "broken": broken,
        "train_pairs": len(plan.train),
        "held_out_pairs": len(plan.held_out),
        "left_out_pairs": plan.left_out,
    }
    with claimed.db.session() as session:
        version = create_version(
            session,
            spec.name,
            spec,
            parent=session.get(ModelVersion, parent.id),
            job_id=claimed.job_id,
            config={"dataset": config.dataset, **config.as_dict(), **plan.keys()},
            metrics=metrics,
        )
        result.update(
            {k: v for k, v in metrics.items() if k not in ("before", "after")},
            version=version.name,
            version_id=version.id,
        )
        claimed.progress(session, line=f"version {version.name} made").result = dict(result)


Stage = Callable[[str, Any, str], None]


def _adapter(
    stage: Stage,
    claimed: Claimed,
    settings: Settings,
    parent: ModelSpec,
    plan: AdaptPlan,
    config: AdaptConfig,
    result: dict[str, Any],
    show_progress: bool,
) -> ModelSpec:
    """Fine-tune (LoRA or full) unless a finished run left its output; the new model's spec."""
    output_dir = settings.models_dir / "adapters" / f"adapt-job-{claimed.job_id}"
    if not output_dir.exists():
        examples = examples_for(plan, result["proofs"])
        work_dir = settings.home / "jobs" / str(claimed.job_id)
        trained = _train(claimed, parent, examples, output_dir, work_dir, config.train, show_progress)
        if trained is None:
            raise JobCancelled(f"job {claimed.job_id} was cancelled")
        stage("training", trained, f"trained {trained['steps']} steps")
    name = f"{parent.name}-adapted"
    return ModelSpec(name, parent.path, str(output_dir)) if is_adapter(output_dir) else ModelSpec(name, str(output_dir))


def _head(
    stage: Stage,
    claimed: Claimed,
    db: Database,
    output_dir: Path,
    parent: ModelSpec,
    plan: AdaptPlan,
    config: AdaptConfig,
    show_progress: bool,
) -> ModelSpec:
    """Fit a judge head on the parent's hidden states unless a finished run left it; the new model's
    spec. While the model reads the features the store does not keep, the job's line follows it."""
    if not is_head(output_dir):
        ids, texts, labels = (
            [p.pair_id for p in plan.train],
            [p.text for p in plan.train],
            [p.label for p in plan.train],
        )
        began = time.perf_counter()

        def reading(read: int, to_read: int) -> None:
            line = f"reading features: {rate_line(read, to_read, time.perf_counter() - began)}"
            with db.session() as session:
                claimed.progress(session, line=line)
            claimed.stop_if_cancelled()

        trained = train_head(
            db,
            parent,
            ids,
            texts,
            labels,
            output_dir,
            batch_size=config.eval_batch_size,
            show_progress=show_progress,
            on_step=reading,
        )
        line = (
            f"head fitted on {len(texts)} pairs in {trained['fit_s']:.2f} s (features {trained['features_s']:.1f} s, "
            f"{trained['kept']} of them kept by the fast path)"
        )
        stage("training", trained, line)
    return ModelSpec(f"{parent.name}-head", parent.path, parent.adapter, str(output_dir))


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
    claimed: Claimed,
    spec: ModelSpec,
    examples: list[LabelledPair],
    output_dir: Path,
    work_dir: Path,
    config: TrainConfig,
    show_progress: bool,
) -> dict[str, Any] | None:
    """Train with progress in the job record; None if cancelled."""

    def on_progress(progress: TrainProgress) -> bool:
        loss = f", loss {progress.loss:.4f}" if progress.loss is not None else ""
        eta = f", ETA {progress.eta_s:.0f} s" if progress.eta_s is not None else ""
        line = f"step {progress.step}/{progress.max_steps}{loss}{eta}"
        point = (progress.step, progress.loss) if progress.loss is not None else None
        with claimed.db.session() as session:
            job = claimed.progress(session, progress.step, line, total=progress.max_steps, point=point)
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
