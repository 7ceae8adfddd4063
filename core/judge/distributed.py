"""One judging job, many workers: `gram judge --for-workers` splits the job's pending pairs into
batches (core/jobs/batches.py) and `gram worker JOB` processes, on any machine that reaches the
store, claim and judge them until none is left.

Each worker loads its own backend for the job's model version (its base model, adapter and head
must be at the same paths, or a hub id, on every machine) and judges with the job's protocol and
options, so its judgments count as the same work (a pair is judged once it has a judgment of that
version and options key). A batch's judgments are committed with the batch's completion, only if
the worker still holds it: a killed worker's batch is judged again by another, and no pair twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

from tqdm import tqdm

from core.backends import Backend
from core.data.datasets import get_dataset
from core.errors import ConflictError, GramError
from core.jobs.batches import (
    abandon,
    beat,
    cancel_if_unworked,
    claim_batch,
    complete,
    fail,
    held_pairs,
    is_split,
    split,
)
from core.jobs.claims import DEFAULT_TIMEOUT_S, JobLost, Runner, beating, create_or_find, refuse_if_held
from core.jobs.lifecycle import finish, get_job
from core.judge.work import (
    JudgeRun,
    Target,
    judge_texts,
    pair_texts,
    pending_pair_ids,
    progress_line,
    store_batch,
)
from core.model.spec import ModelSpec
from core.model.versions import get_version, spec_of, version_id_for
from core.vocab import ACTIVE, JobKind, JobStatus
from storage.database import Database
from storage.tables import Job

log = logging.getLogger(__name__)


def queue_for_workers(
    db: Database,
    spec: ModelSpec,
    backend_name: str,
    run: JudgeRun,
    *,
    owner: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Job:
    """The judging job for this work (a new one is `owner`'s), its pending pairs split into batches
    of `run.batch_size` (ramped where `run.ramp`) for workers; JobBusy if a single runner is judging
    it now (a runner that has not beaten for `timeout_s` holds nothing)."""
    with db.session() as session:
        dataset_id = get_dataset(session, run.dataset).id
    version_id = version_id_for(db, spec)
    options_key = run.options_key()
    config = {**run.config_of(spec, backend_name), "model_version": version_id, "for_workers": True}
    key = Target(version_id, options_key, None).work_key(run, dataset_id)
    job_id, created = create_or_find(db, JobKind.JUDGE, key, config, dataset_id, owner=owner)
    with db.session() as session:
        job = get_job(session, job_id)
        if not created:
            refuse_if_held(job, timeout_s=timeout_s)
        held = held_pairs(session, job_id)  # a live worker's batch goes on; a dead one's is taken over
        pending = pending_pair_ids(session, dataset_id, version_id, options_key, labelled_only=run.labelled_only)
        pending = [i for i in pending if i not in held]
        if run.limit is not None:
            pending = pending[: max(run.limit - job.done - len(held), 0)]
        split(session, job, pending, run.batch_size, ramp=run.ramp)
        job.runner, job.config, job.cancel_requested, job.error = None, config, False, None
        job.status = JobStatus.RUNNING if held else JobStatus.QUEUED
        job.total = job.done + len(held) + len(pending)
        job.progress = job.done / job.total if job.total else 1.0
        if not pending and not held:  # nothing left to judge: no worker would ever end the job
            finish(job, JobStatus.SUCCEEDED, result={"judged": job.done})
        log.info("judge job %s: %s pairs in batches of %s for workers", job_id, len(pending), run.batch_size)
        return job


def job_spec(db: Database, job_id: int) -> tuple[ModelSpec, str]:
    """The model (its version's spec) and backend a split job was queued with."""
    with db.session() as session:
        job = get_job(session, job_id)
        if job.kind != JobKind.JUDGE or not is_split(session, job_id):
            raise GramError(f"job {job_id} is not a judging job split for workers (gram judge --for-workers)")
        return spec_of(get_version(session, int(job.config["model_version"]))), str(job.config.get("backend", ""))


def run_worker(
    db: Database,
    backend: Backend,
    job_id: int,
    *,
    worker: Runner | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    show_progress: bool = True,
    on_batch: Callable[[Job], None] | None = None,
) -> int:
    """Claim and judge batches of the split job until none is left; returns the pairs this worker judged."""
    worker = worker or Runner.of_process()
    with db.session() as session:
        job = get_job(session, job_id)
        if not is_split(session, job_id):
            raise GramError(f"job {job_id} is not split for workers (gram judge --for-workers)")
        config, total, already = dict(job.config), job.total or 0, job.done
    run = JudgeRun.from_config(config)
    target = Target.of(db, backend, run)
    if target.version_id != config["model_version"]:
        raise ConflictError(
            f"job {job_id} judges with model version {config['model_version']}; this worker loaded "
            f"'{backend.spec.name}' (version {target.version_id})"
        )
    judged, tokens, began = 0, 0, time.perf_counter()
    bar = tqdm(total=total, initial=already, unit="pair", desc=f"job {job_id}", disable=not show_progress)
    try:
        while (batch := claim_batch(db, job_id, worker, timeout_s=timeout_s)) is not None:
            started = time.perf_counter()
            try:
                with beating(db, partial(beat, batch=batch, worker=worker), timeout_s, f"job {job_id}"):
                    ids, texts = pair_texts(db, batch.pair_ids)
                    judged_now = judge_texts(db, backend, run, ids, texts)
                with db.session() as session:
                    tokens += store_batch(session, backend, run, target, job_id, ids, judged_now)
                    job = complete(session, batch, worker, time.perf_counter() - started)
                    line = progress_line(job.done, job.total, judged + len(ids), tokens, time.perf_counter() - began)
                    job.log = (job.log + line + "\n")[-20_000:]
            except JobLost as lost:  # presumed dead and taken over: its judgments were not kept
                log.warning("%s; going on with the next batch", lost)
                continue
            except Exception as error:
                fail(db, batch, worker, f"{type(error).__name__}: {error}")
                raise
            judged += len(ids)
            bar.n = job.done  # every worker's pairs, not only this one's
            bar.refresh()
            if on_batch:
                on_batch(job)
    except Exception as error:  # this worker stops: its job fails with why, unless others go on
        abandon(db, job_id, f"{type(error).__name__}: {error}")
        raise
    finally:
        bar.close()
    _cancel_if_last(db, job_id)
    return judged


def _cancel_if_last(db: Database, job_id: int) -> None:
    """A worker leaving a cancelled job: the last one out marks it cancelled."""
    with db.session() as session:
        job = get_job(session, job_id)
        if job.cancel_requested and job.status in ACTIVE:
            cancel_if_unworked(session, job)
