"""GRAM-R²'s self-training loop (../shared/GRAM-R2.md §2), every knob a setting.

One iteration, on a fresh batch of the dataset's pairs that nobody reviewed:
1. the current model labels each pair over k sampled runs (majority vote);
2. pseudo-labels whose confidence (P(label) over {A, B}, averaged over the runs) is under the
   threshold are dropped;
3. the proving model writes k proofs for each surviving label and the best by
   Score = −log π(ẑ|s,l) / log π(ẑ) is kept (the labeller's own rationale is discarded);
4. rule checks drop proofs that are too long, do not support the label, or break the format;
5. the kept examples join the reviewed pairs and everything kept in earlier iterations, and the
   model is retrained into a new (inactive) model version, which labels the next iteration.
The pseudo-labels are stored as judgments (origin 'selftrain', the filters' verdicts in
`votes`), so people can browse and correct them. Reference labels are never trained on; where
they exist they measure the pseudo-labels' accuracy. Labelling and proving run on the configured
backend (GRAM_BACKEND: transformers, vLLM, or `vllm serve` endpoints); retraining on transformers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select

from core.backends import Backend, configured_backend
from core.data.datasets import get_dataset
from core.data.identity import content_key
from core.errors import GramError
from core.jobs.lifecycle import get_job, mark_running
from core.judge.generative import JudgeOptions, judge_pairs
from core.model.spec import ModelSpec, guided_by_default, resolve_model
from core.model.versions import create_version, get_version, spec_of, version_for
from core.settings import Settings
from core.text.pair import PairText
from core.train.adaptation import figures, held_out_scores
from core.train.config import SelfTrainConfig
from core.train.jobs import claim_training, start_training_job
from core.train.proving import prove, rule_check
from core.train.split import AdaptPlan, LabelledPair, freeze_split, frozen_plan
from core.train.trainer import is_adapter, train
from core.vocab import DECISIVE, JobKind, Origin, Protocol
from storage.database import Database
from storage.tables import Job, Judgment, ModelVersion, Pair, Review


@dataclass
class Candidate:
    pair_id: int
    text: PairText
    reference: str | None
    judgment: dict[str, Any]
    dropped_by: str | None = None
    proof: str | None = None
    proof_score: float | None = None


def unlabelled_batch(session: Any, dataset_id: int, size: int, held_out_keys: set[str]) -> list[Pair]:
    """Pairs nobody reviewed and no earlier iteration pseudo-labelled, in id order, leaving out
    any whose content (in either order) is held out: a duplicate of a held-out pair must not train."""
    reviewed = exists().where(Review.pair_id == Pair.id, Review.label.is_not(None))
    pseudo = exists().where(Judgment.pair_id == Pair.id, Judgment.origin == Origin.SELFTRAIN)
    query = select(Pair).where(Pair.dataset_id == dataset_id, ~reviewed, ~pseudo).order_by(Pair.id)
    batch: list[Pair] = []
    for pair in session.scalars(query.execution_options(yield_per=500)):
        if content_key(pair.prompt, pair.response_a, pair.response_b) not in held_out_keys:
            batch.append(pair)
            if len(batch) == size:
                break
    return batch


def label_and_prove(
    settings: Settings,
    labeller: ModelSpec,
    prover: ModelSpec,
    candidates: list[Candidate],
    config: SelfTrainConfig,
    between: Callable[[], None],
) -> None:
    """Steps 1 to 4 (`between` runs between labelling and proving: a cancel check). Where the
    prover is the labeller (the default), one model load serves both: a vLLM engine starts once
    per iteration, not twice."""
    backend = configured_backend(settings, labeller, batch_size=config.batch_size)
    try:
        label_pairs(backend, candidates, config)
        between()
        for c in candidates:
            # An undecided pseudo-label names no winner: nothing to train, whatever the threshold.
            if c.judgment["label"] not in DECISIVE or c.judgment["confidence"] < config.threshold:
                c.dropped_by = "confidence"
        if prover == labeller:
            prove_and_check(backend, candidates, config)
            return
    finally:
        backend.close()
    backend = configured_backend(settings, prover, batch_size=config.batch_size)
    try:
        prove_and_check(backend, candidates, config)
    finally:
        backend.close()


def label_pairs(backend: Backend, candidates: list[Candidate], config: SelfTrainConfig) -> None:
    """Step 1: k sampled labelling runs per pair; the judgment (votes, confidence) per candidate."""
    options = JudgeOptions(
        votes=config.votes,
        temperature=config.temperature,
        max_new_tokens=config.label_max_tokens,
        guided=guided_by_default(backend.spec),
    )
    for candidate, verdict in zip(candidates, judge_pairs(backend, [c.text for c in candidates], options), strict=True):
        candidate.judgment = verdict.record()


def prove_and_check(backend: Backend, candidates: list[Candidate], config: SelfTrainConfig) -> None:
    """Steps 3 and 4 for the candidates the threshold kept."""
    kept = [c for c in candidates if c.dropped_by is None]
    if not kept:
        return
    proofs = prove(
        backend,
        [c.text for c in kept],
        [c.judgment["label"] for c in kept],
        k=config.proof_samples,
        temperature=config.proof_temperature,
        max_new_tokens=config.proof_max_tokens,
        guided=guided_by_default(backend.spec),
    )
    for candidate, found in zip(kept, proofs, strict=True):
        best = found[0]
        candidate.proof, candidate.proof_score = best.rationale, best.score
        tokens = len(backend.tokenizer.encode(best.rationale, add_special_tokens=False))
        candidate.dropped_by = rule_check(
            best.rationale, candidate.judgment["label"], tokens=tokens, max_tokens=config.max_rationale_tokens
        )


def iteration_figures(candidates: list[Candidate]) -> dict[str, Any]:
    """Pairs kept and dropped by each filter, and pseudo-label accuracy against references."""
    drops = Counter(c.dropped_by for c in candidates if c.dropped_by)
    kept = [c for c in candidates if c.dropped_by is None]

    def accuracy(group: list[Candidate]) -> dict[str, Any]:
        scored = [c for c in group if c.reference in DECISIVE]
        right = sum(c.judgment["label"] == c.reference for c in scored)
        return {"n": len(scored), "accuracy": right / len(scored) if scored else None}

    return {
        "labelled": len(candidates),
        "dropped": dict(drops),
        "kept": len(kept),
        "pseudo_label_accuracy_all": accuracy(candidates),
        "pseudo_label_accuracy_kept": accuracy(kept),
    }


def start_selftrain(db: Database, settings: Settings, config: SelfTrainConfig, *, owner: str | None = None) -> int:
    """Create (or find the resumable) self-training job, its split frozen; returns its id. The work
    is `run_selftrain`."""
    job_id = start_training_job(db, settings, JobKind.SELFTRAIN, config.dataset, config.as_dict(), owner=owner)
    freeze_split(db, job_id, config.dataset, config.holdout_fraction)
    return job_id


def run_selftrain(db: Database, settings: Settings, job_id: int, *, show_progress: bool = True) -> Job:
    """Run (or resume, at the first unfinished iteration) self-training job `job_id`. JobBusy if
    another live process runs it."""
    claimed = claim_training(db, settings, job_id)
    with db.session() as session:
        config = SelfTrainConfig.from_dict(dict(get_job(session, job_id).config["selftrain"]))
    freeze_split(db, job_id, config.dataset, config.holdout_fraction)  # a job queued before splits were frozen
    with db.session() as session:
        job = get_job(session, job_id)
        dataset_id = get_dataset(session, config.dataset).id
        plan = frozen_plan(session, config.dataset, job.result["split"])
        held_out_keys = {p.key for p in plan.held_out}
        current = spec_of(get_version(session, job.config["parent_version"]))
        mark_running(job, config.iterations)
        result = dict(job.result or {})
    iterations: list[dict[str, Any]] = list(result.get("iterations", []))
    if iterations:  # resume with the model the last finished iteration made
        with db.session() as session:
            current = spec_of(get_version(session, iterations[-1]["version_id"]))
    with claimed.recorded(lambda: dict(result)):
        for number in range(len(iterations) + 1, config.iterations + 1):
            # A cancel is honoured between stages: an iteration cut short commits nothing.
            claimed.stop_if_cancelled()
            with db.session() as session:
                batch = unlabelled_batch(session, dataset_id, config.pairs_per_iteration, held_out_keys)
                candidates = [Candidate(p.id, PairText.of(p), p.reference_label, {}) for p in batch]
            if not candidates:
                raise GramError("no unlabelled pairs left in the dataset")
            prover = resolve_model(settings, config.prover) if config.prover else current
            label_and_prove(settings, current, prover, candidates, config, between=claimed.stop_if_cancelled)
            claimed.stop_if_cancelled()
            with db.session() as session:
                claimed.progress(session, line=f"iteration {number}: {len(candidates)} pseudo-labels")
                version_id = version_for(session, current).id
                for c in candidates:
                    record = dict(c.judgment)
                    record["votes"] = {
                        **(record.get("votes") or {}),
                        "iteration": number,
                        "kept": c.dropped_by is None,
                        "dropped_by": c.dropped_by,
                        "proof_score": c.proof_score,
                    }
                    if c.proof is not None:
                        record["rationale"] = c.proof  # the proof is what trains; the labeller's is in raw_output
                    session.add(
                        Judgment(
                            pair_id=c.pair_id,
                            model_version_id=version_id,
                            job_id=job_id,
                            model=current.name,
                            backend=settings.backend,
                            protocol=Protocol.GRAM_R2,
                            origin=Origin.SELFTRAIN,
                            **record,
                        )
                    )
            stats = iteration_figures(candidates)
            kept_examples = [e for it in iterations for e in it["examples"]] + [
                {"pair_id": c.pair_id, "label": c.judgment["label"], "rationale": c.proof}
                for c in candidates
                if c.dropped_by is None
            ]
            trained_spec, trained, trained_on = _retrain(
                db, settings, job_id, number, current, plan, kept_examples, config, show_progress
            )
            rows = held_out_scores(db, trained_spec, plan.held_out, config.batch_size)
            with db.session() as session:
                parent_row = session.scalar(
                    select(ModelVersion).where(ModelVersion.name == current.name)
                ) or version_for(session, current)
                version = create_version(
                    session,
                    trained_spec.name,
                    trained_spec,
                    parent=parent_row,
                    job_id=job_id,
                    config={"selftrain": config.as_dict(), "iteration": number, **trained_on},
                    metrics={**stats, "held_out": figures(rows), "training": trained},
                )
                entry = {
                    **stats,
                    "held_out": figures(rows),
                    "left_out_pairs": plan.left_out,
                    "version": version.name,
                    "version_id": version.id,
                    "examples": kept_examples[-stats["kept"] :] if stats["kept"] else [],
                }
                line = f"iteration {number}: kept {stats['kept']} of {stats['labelled']}"
                claimed.progress(session, number, line).result = {**result, "iterations": [*iterations, entry]}
            # Only once the version and the iteration are committed does the result name them.
            iterations.append(entry)
            result["iterations"] = iterations
            current = spec_of(version)
    with db.session() as session:
        return get_job(session, job_id)


def _retrain(
    db: Database,
    settings: Settings,
    job_id: int,
    number: int,
    current: ModelSpec,
    plan: AdaptPlan,
    kept: list[dict[str, Any]],
    config: SelfTrainConfig,
    show_progress: bool,
) -> tuple[ModelSpec, dict[str, Any], dict[str, Any]]:
    """Train the current model on the reviewed pairs plus every kept pseudo-label so far."""
    with db.session() as session:
        pairs = {p.id: p for p in session.scalars(select(Pair).where(Pair.id.in_([e["pair_id"] for e in kept])))}
        examples = [
            LabelledPair(e["pair_id"], PairText.of(pairs[e["pair_id"]]), e["label"], e["rationale"]) for e in kept
        ]
    examples += plan.train
    if not examples:
        raise GramError("every pseudo-label was dropped and nothing is reviewed: nothing to train on")
    output_dir = settings.models_dir / "adapters" / f"selftrain-job-{job_id}-it{number}"
    outcome = None
    if not output_dir.exists():
        outcome = train(
            current,
            examples,
            output_dir,
            settings.home / "jobs" / f"{job_id}-it{number}",
            config.train,
            show_progress=show_progress,
        )
    name = f"{current.name}-st{number}"
    spec = (
        ModelSpec(name, current.path, str(output_dir)) if is_adapter(output_dir) else ModelSpec(name, str(output_dir))
    )
    trained = {"steps": outcome.steps, "losses": outcome.losses, "seconds": outcome.seconds} if outcome else {}
    # What the version trained on, by id and by content, so no descendant is ever measured on it.
    trained_on = {
        "train_pair_ids": [e.pair_id for e in examples],
        "train_keys": sorted({content_key(e.text.prompt, e.text.response_a, e.text.response_b) for e in examples}),
        "held_out_pair_ids": [p.pair_id for p in plan.held_out],
    }
    return spec, trained, trained_on
