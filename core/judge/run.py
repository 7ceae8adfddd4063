"""The judging job: judge a dataset's pairs in batches, storing each batch as it completes.

One runner at a time does a piece of work (core/jobs/claims.py): a second `gram judge` of the
same dataset with the same model and options is refused while the first is alive, and takes
over once it is dead. A pair counts as judged once it has a judgment of this model version (its base model and
adapter, not its folder's name) made with the same verdict-changing options (`options_key`), so
an interrupted run (killed, cancelled, crashed) resumes where it stopped and never judges a pair
twice, while a run with other options (both orders after one) judges again. Each batch's judgments
and the job's progress are committed together.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from core.backends import Backend
from core.data.datasets import get_dataset
from core.jobs.batches import is_split
from core.jobs.claims import DEFAULT_TIMEOUT_S, Runner, claim_work, find_resumable, work_key
from core.jobs.records import Claimed, get_job, mark_running
from core.judge.fast import score_pairs_and_features
from core.judge.protocol import JudgeOptions, PairText, judge_pairs
from core.model.features import FeatureSource, feature_source, store_features
from core.model.spec import ModelSpec
from core.model.versions import version_id_for
from core.vocab import ACTIVE, DECISIVE, JobKind, Protocol
from storage.database import Database
from storage.tables import Job, Judgment, Pair


def verdict_protocol(spec: ModelSpec, fast: bool) -> Protocol:
    """The protocol a judging run of `spec` uses. A version with a judge head gives its verdicts
    through the fast path (the head reads its forward passes): the generative path would be the
    base model's verdict, stored under this version."""
    return Protocol.LABEL_ONLY if fast or spec.head else Protocol.GRAM_R2


@dataclass(frozen=True)
class JudgeRun:
    dataset: str
    protocol: Protocol = Protocol.GRAM_R2
    options: JudgeOptions = JudgeOptions()
    limit: int | None = None  # judge at most this many pending pairs
    batch_size: int = 8
    labelled_only: bool = False  # only pairs with a reference label (for evaluation)
    # For a person watching (the studio): the first batch is one pair, and no batch takes more
    # than a quarter of what is left, so the bar moves soon and often and the rate is known early.
    ramp: bool = False

    def options_key(self) -> str:
        """A hash of what changes a verdict: the protocol and, for the rationale protocol, the
        orders, votes, sampling and token budget (the fast path always scores both orders)."""
        key: dict[str, Any] = {"protocol": str(self.protocol)}
        if self.protocol == Protocol.GRAM_R2:
            o = self.options
            key |= {
                "both_orders": o.both_orders,
                "votes": o.votes,
                "max_new_tokens": o.max_new_tokens,
                "min_new_tokens": o.min_new_tokens,
                "guided": o.guided,
            }
            if o.votes > 1:
                key |= {"temperature": o.temperature, "seed": o.seed}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def config(self, backend: Backend) -> dict[str, Any]:
        return self.config_of(backend.spec, backend.name)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> JudgeRun:
        """The run a job's `config_of` recorded (how a worker rebuilds it)."""
        return cls(
            dataset=config["dataset"],
            protocol=Protocol(config["protocol"]),
            options=JudgeOptions(**config["options"]),
            limit=config.get("limit"),
            labelled_only=bool(config.get("labelled_only")),
        )

    def config_of(self, spec: ModelSpec, backend_name: str) -> dict[str, Any]:
        """What a job of this run records (what a worker rebuilds the run from)."""
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "options": asdict(self.options),
            "limit": self.limit,
            "labelled_only": self.labelled_only,
            "model": spec.path,
            "adapter": spec.adapter,
            "backend": backend_name,
        }


def pending_pair_ids(
    session: Session, dataset_id: int, version_id: int, options_key: str, *, labelled_only: bool
) -> list[int]:
    """Pairs of the dataset that this judge (a model version) has not judged with these options, in id order."""
    judged = exists().where(
        Judgment.pair_id == Pair.id, Judgment.model_version_id == version_id, Judgment.options_key == options_key
    )
    query = select(Pair.id).where(Pair.dataset_id == dataset_id, ~judged).order_by(Pair.id)
    if labelled_only:
        query = query.where(Pair.reference_label.in_(DECISIVE))
    return list(session.scalars(query))


def batches(pending: list[int], size: int, *, ramp: bool = False) -> Iterator[list[int]]:
    """The pending pair ids in the batches a run judges them in."""
    start = 0
    while start < len(pending):
        left = len(pending) - start
        take = min(size, max(1, left // 4), 1 if start == 0 else size) if ramp else size
        yield pending[start : start + take]
        start += take


def _eta(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@dataclass(frozen=True)
class Target:
    """What a run's judgments are stored as: the judge (a model version) and the verdict-changing
    options (a pair is judged once it has a judgment with both) and, on the fast path where the
    backend reads hidden states, the features kept on the way (the instant judge learns from them)."""

    version_id: int
    options_key: str
    features_to: FeatureSource | None

    @classmethod
    def of(cls, db: Database, backend: Backend, run: JudgeRun) -> Target:
        features_to = feature_source(db, backend) if run.protocol == Protocol.LABEL_ONLY else None
        return cls(version_id_for(db, backend.spec), run.options_key(), features_to)

    def work_key(self, run: JudgeRun, dataset_id: int) -> str:
        """What decides which pairs get which verdicts; a limit or the backend is a run's own."""
        identity = {"model_version": self.version_id, "options": self.options_key, "labelled_only": run.labelled_only}
        return work_key(JobKind.JUDGE, dataset_id, identity)


def pair_texts(db: Database, ids: list[int]) -> tuple[list[int], list[PairText]]:
    """The texts of the pairs `ids` that still exist (one deleted meanwhile is left out), in order."""
    with db.session() as session:
        found = {p.id: p for p in session.scalars(select(Pair).where(Pair.id.in_(ids)))}
    kept = [i for i in ids if i in found]
    return kept, [PairText(found[i].prompt, found[i].response_a, found[i].response_b) for i in kept]


def store_batch(
    session: Session,
    backend: Backend,
    run: JudgeRun,
    target: Target,
    job_id: int,
    ids: list[int],
    records: list[dict[str, Any]],
    features: Any | None,
) -> int:
    """Add a batch's judgments (and features) to the caller's transaction; returns the tokens generated."""
    if target.features_to is not None and features is not None:
        store_features(session, target.features_to, ids, features)
    tokens = 0
    for pair_id, record in zip(ids, records, strict=True):
        session.add(
            Judgment(
                pair_id=pair_id,
                model_version_id=target.version_id,
                job_id=job_id,
                model=backend.spec.name,
                backend=backend.name,
                protocol=run.protocol,
                options_key=target.options_key,
                **record,
            )
        )
        tokens += record.get("timings", {}).get("tokens", 0)
    return tokens


def run_judging(
    db: Database,
    backend: Backend,
    run: JudgeRun,
    *,
    show_progress: bool = True,
    on_batch: Callable[[Job], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    owner: str | None = None,
) -> Job:
    """Judge the run's pending pairs; returns the finished (or cancelled) job (a new one is
    `owner`'s). JobBusy if another live runner is doing the same work (this dataset, model version,
    options)."""
    with db.session() as session:
        dataset_id = get_dataset(session, run.dataset).id
    target = Target.of(db, backend, run)
    version_id, options_key, key = target.version_id, target.options_key, target.work_key(run, dataset_id)
    with db.session() as session:
        found = find_resumable(session, JobKind.JUDGE, key, dataset_id)
        split_for_workers = found is not None and found.status in ACTIVE and is_split(session, found.id)
    if found is not None and split_for_workers:  # this work is being shared out: join in as one more worker
        from core.judge.distributed import run_worker

        run_worker(db, backend, found.id, timeout_s=timeout_s, show_progress=show_progress, on_batch=on_batch)
        with db.session() as session:
            return get_job(session, found.id)
    runner = Runner.of_thread()  # the studio judges in a thread of its server
    job_id = claim_work(
        db, JobKind.JUDGE, key, run.config(backend), dataset_id, runner, timeout_s=timeout_s, owner=owner
    )
    claimed = Claimed(db, job_id, runner, timeout_s)
    with db.session() as session:
        job = get_job(session, job_id)
        pending = pending_pair_ids(session, dataset_id, version_id, options_key, labelled_only=run.labelled_only)
        already = job.done
        # `limit` counts over the job's life, so a resumed job stops where the first run would have.
        if run.limit is not None:
            pending = pending[: max(run.limit - already, 0)]
        mark_running(job, already + len(pending))

    bar = tqdm(
        total=already + len(pending),
        initial=already,
        unit="pair",
        desc=f"judging {run.dataset}",
        disable=not show_progress,
    )
    done, tokens, started = already, 0, time.perf_counter()
    # `done` and `tokens` are read when the job ends.
    with claimed.recorded(lambda: {"judged": done, "tokens": tokens}):
        try:
            for ids in batches(pending, run.batch_size, ramp=run.ramp):
                claimed.stop_if_cancelled()  # between batches: the last one is stored
                ids, texts = pair_texts(db, ids)
                records, features = judge_texts(backend, run, texts)
                with db.session() as session:
                    tokens += store_batch(session, backend, run, target, job_id, ids, records, features)
                    done += len(ids)
                    elapsed = time.perf_counter() - started
                    rate = (done - already) / elapsed if elapsed else 0.0
                    left = (job.total or done) - done
                    eta = f", about {_eta(left / rate)} left" if rate and left else ""
                    job = claimed.progress(
                        session,
                        done,
                        f"{done}/{job.total} pairs, {rate:.2f} pairs/s, "
                        f"{tokens / elapsed if elapsed else 0:.1f} tokens/s{eta}",
                    )
                if on_batch:  # after the commit: observers see the stored batch
                    on_batch(job)
                bar.update(len(ids))
                bar.set_postfix(tokens_per_s=f"{tokens / max(time.perf_counter() - started, 1e-9):.1f}")
        finally:
            bar.close()
    with db.session() as session:
        return get_job(session, job_id)


def judge_texts(backend: Backend, run: JudgeRun, texts: list[PairText]) -> tuple[list[dict[str, Any]], Any | None]:
    """The batch's judgment records and, on the fast path where the backend reads them, its features."""
    if run.protocol == Protocol.LABEL_ONLY:
        started = time.perf_counter()
        scores, features = score_pairs_and_features(backend, texts)
        per_pair = (time.perf_counter() - started) / max(len(texts), 1)
        return [{**s.record(), "timings": {"score_s": per_pair, "tokens": 0}} for s in scores], features
    return [j.record() for j in judge_pairs(backend, texts, run.options)], None
