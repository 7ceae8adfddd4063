"""What a judging job works on, shared by its one-runner and many-worker forms: the run's options,
the model version it judges with, the pairs still to judge, and storing a batch of verdicts."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.backends import Backend
from core.head.fast_path import kept_head_scores, score_pairs_and_features
from core.head.features import FeatureSource, feature_source, store_features
from core.jobs.claims import work_key
from core.jobs.lifecycle import rate_line
from core.judge.generative import JudgeOptions, judge_pairs
from core.model.spec import ModelSpec
from core.model.versions import version_id_for
from core.text.pair import PairText
from core.vocab import DECISIVE, JobKind, Protocol
from storage.database import Database
from storage.tables import Judgment, Pair


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
    return kept, [PairText.of(found[i]) for i in kept]


def store_batch(
    session: Session,
    backend: Backend,
    run: JudgeRun,
    target: Target,
    job_id: int,
    ids: list[int],
    judged: Judged,
) -> int:
    """Add a batch's judgments (and features) to the caller's transaction; returns the tokens generated."""
    if target.features_to is not None and judged.features is not None and judged.feature_ids:
        store_features(session, target.features_to, judged.feature_ids, judged.features)
    tokens = 0
    for pair_id, record in zip(ids, judged.records, strict=True):
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


def progress_line(done: int, total: int | None, judged: int, tokens: int, seconds: float) -> str:
    """What a judging job's log says after a batch: the job's count, and this runner's rate
    (`judged` pairs and `tokens` generated in `seconds`) with the time left at that rate."""
    tokens_per_s = f"{tokens / seconds if seconds else 0:.1f} tokens/s"
    return rate_line(done, total or done, seconds, counted=judged, also=tokens_per_s)


@dataclass
class Judged:
    """A batch's judgment records (in the batch's order) and the head features computed on the way,
    for the pairs `feature_ids` (those the model ran on: none where the features were kept)."""

    records: list[dict[str, Any]]
    feature_ids: list[int]
    features: Any | None = None


def judge_texts(db: Database, backend: Backend, run: JudgeRun, ids: list[int], texts: list[PairText]) -> Judged:
    """The batch's judgments. On the fast path a head version scores the pairs whose features are
    kept from them alone, and the model runs on the others (yielding their features where the
    backend reads hidden states)."""
    if run.protocol != Protocol.LABEL_ONLY:
        return Judged([j.record() for j in judge_pairs(backend, texts, run.options)], [])
    started = time.perf_counter()
    kept = kept_head_scores(db, backend, ids)
    todo = [k for k, pair_id in enumerate(ids) if pair_id not in kept]
    fresh, features = score_pairs_and_features(backend, [texts[k] for k in todo]) if todo else ([], None)
    run_by_model = dict(zip(todo, fresh, strict=True))
    per_pair = (time.perf_counter() - started) / max(len(texts), 1)
    scores = [kept[pair_id] if pair_id in kept else run_by_model[k] for k, pair_id in enumerate(ids)]
    records = [{**s.record(), "timings": {"score_s": per_pair, "tokens": 0}} for s in scores]
    return Judged(records, [ids[k] for k in todo], features)
