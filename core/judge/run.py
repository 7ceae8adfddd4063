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
from core.jobs.claims import DEFAULT_TIMEOUT_S, Runner, claim_work, work_key
from core.jobs.records import Claimed, get_job, mark_running
from core.judge.fast import score_pairs_and_features
from core.judge.protocol import JudgeOptions, PairText, judge_pairs
from core.model.features import feature_source, store_features
from core.model.spec import ModelSpec
from core.model.versions import version_id_for
from core.vocab import DECISIVE, JobKind, Protocol
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
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "options": asdict(self.options),
            "limit": self.limit,
            "labelled_only": self.labelled_only,
            "model": backend.spec.path,
            "adapter": backend.spec.adapter,
            "backend": backend.name,
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


def run_judging(
    db: Database,
    backend: Backend,
    run: JudgeRun,
    *,
    show_progress: bool = True,
    on_batch: Callable[[Job], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Job:
    """Judge the run's pending pairs; returns the finished (or cancelled) job. JobBusy if another
    live runner is doing the same work (this dataset, model version, options)."""
    with db.session() as session:
        dataset_id = get_dataset(session, run.dataset).id
    version_id = version_id_for(db, backend.spec)
    # The fast path keeps each pair's judge-head features on the way (the instant judge learns from them).
    features_to = feature_source(db, backend) if run.protocol == Protocol.LABEL_ONLY else None
    options_key = run.options_key()
    # The work is what decides which pairs get which verdicts; a limit or the backend is the run's own.
    key = work_key(
        JobKind.JUDGE,
        dataset_id,
        {"model_version": version_id, "options": options_key, "labelled_only": run.labelled_only},
    )
    runner = Runner.of_thread()  # the studio judges in a thread of its server
    job_id = claim_work(db, JobKind.JUDGE, key, run.config(backend), dataset_id, runner, timeout_s=timeout_s)
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
                with db.session() as session:
                    pairs = [session.get(Pair, i) for i in ids]
                    texts = [PairText(p.prompt, p.response_a, p.response_b) for p in pairs if p is not None]
                records, features = _judge(backend, run, texts)
                with db.session() as session:
                    if features_to is not None and features is not None:
                        store_features(session, features_to, ids, features)
                    for pair_id, record in zip(ids, records, strict=True):
                        session.add(
                            Judgment(
                                pair_id=pair_id,
                                model_version_id=version_id,
                                job_id=job_id,
                                model=backend.spec.name,
                                backend=backend.name,
                                protocol=run.protocol,
                                options_key=options_key,
                                **record,
                            )
                        )
                        tokens += record.get("timings", {}).get("tokens", 0)
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


def _judge(backend: Backend, run: JudgeRun, texts: list[PairText]) -> tuple[list[dict[str, Any]], Any | None]:
    """The batch's judgment records and, on the fast path where the backend reads them, its features."""
    if run.protocol == Protocol.LABEL_ONLY:
        started = time.perf_counter()
        scores, features = score_pairs_and_features(backend, texts)
        per_pair = (time.perf_counter() - started) / max(len(texts), 1)
        return [{**s.record(), "timings": {"score_s": per_pair, "tokens": 0}} for s in scores], features
    return [j.record() for j in judge_pairs(backend, texts, run.options)], None
