"""Evaluation reports: a model's verdicts on a dataset or a file, against reference and people's labels.

Every figure comes from the latest judgment of the model on each pair (core/data/judgments.py),
and none counts a pair that the judgment's version or an ancestor trained on (core/model/lineage.py):
those are left out and counted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from tqdm import tqdm

from core.backends import Backend
from core.data.datasets import get_dataset
from core.data.identity import content_key
from core.data.importer import parse_files
from core.data.judgments import by_construction, latest_judgment_id, model_conditions
from core.data.pair_record import PairRecord
from core.errors import InputFileError
from core.evaluation.metrics import Evaluation, Scored, evaluate
from core.head.fast_path import FastScore, score_pairs
from core.jobs.claims import DEFAULT_TIMEOUT_S
from core.judge.generative import JudgeOptions, PairJudgment, judge_pairs, label_forced
from core.judge.run import run_judging
from core.judge.work import JudgeRun
from core.model.lineage import TrainedOn
from core.model.versions import version_for
from core.review.consensus import dataset_finals
from core.settings import Settings
from core.text.pair import PairText
from core.vocab import DECISIVE, Label, Protocol
from storage.database import Database
from storage.tables import Judgment, Pair

log = logging.getLogger(__name__)


def _scored(
    reference: str | None, verdict: Judgment | PairJudgment | FastScore, source: str, *, trained: bool = False
) -> Scored:
    """A verdict (stored or in memory) against a reference label."""
    return Scored(
        reference,
        verdict.label,
        verdict.confidence,
        verdict.prob_a,
        verdict.consistent,
        source,
        label_forced(verdict.orders, verdict.label),
        trained=trained,
        by_construction=by_construction(verdict.orders),
    )


def stored_scores(
    session: Session,
    dataset_id: int,
    model: str,
    protocol: str,
    *,
    limit: int | None = None,
    version_id: int | None = None,
    options_key: str | None = None,
) -> list[Scored]:
    """The latest judgment of `model` under `protocol` for the dataset's first `limit` pairs
    with an A/B reference, plus its tie and unlabelled pairs (to be counted, not scored)."""
    labelled = (
        select(Pair.reference_label, Pair.source, Pair.prompt, Pair.response_a, Pair.response_b, Judgment)
        .join(
            Judgment,
            Judgment.id
            == latest_judgment_id(*model_conditions(model, protocol, version_id=version_id, options_key=options_key)),
        )
        .where(Pair.dataset_id == dataset_id, Pair.reference_label.in_(DECISIVE))
        .order_by(Pair.id)
    )
    if limit is not None:
        first = select(Pair.id).where(Pair.dataset_id == dataset_id, Pair.reference_label.in_(DECISIVE))
        labelled = labelled.where(Pair.id.in_(first.order_by(Pair.id).limit(limit)))
    trained = TrainedOn(session)
    items = [
        _scored(reference, j, source, trained=trained(j.model_version_id, prompt, a, b))
        for reference, source, prompt, a, b, j in session.execute(labelled)
    ]
    others = session.scalars(
        select(Pair.reference_label).where(
            Pair.dataset_id == dataset_id, (Pair.reference_label == Label.TIE) | Pair.reference_label.is_(None)
        )
    )
    return items + [Scored(ref, None, None, None, None) for ref in others]


# Pairs judged per step of an in-memory evaluation: the unit of progress and of what is held at
# once (each step's verdicts are reduced to their figures); a backend batches within it.
EVALUATION_STEP = 32


def evaluate_records(
    backend: Backend,
    records: Sequence[PairRecord],
    *,
    fast: bool,
    options: JudgeOptions,
    limit: int | None = None,
    show_progress: bool = False,
    trained: Set[str] = frozenset(),
) -> list[Scored]:
    """Judge the first `limit` A/B-labelled records in memory (nothing stored), a step at a time
    with a progress bar (pairs/s, ETA) on standard error; the others (ties, unlabelled) are
    returned unscored, to be counted. A record whose content key is in `trained` (the model's
    training pairs) is not judged: it is counted as left out."""
    left_out = [r for r in records if r.label in DECISIVE and _key(r) in trained]
    labelled = [r for r in records if r.label in DECISIVE and _key(r) not in trained][:limit]
    items = []
    with tqdm(total=len(labelled), unit="pair", desc="evaluating", disable=not show_progress) as bar:
        for start in range(0, len(labelled), EVALUATION_STEP):
            step = labelled[start : start + EVALUATION_STEP]
            texts = [PairText.of(r) for r in step]
            results: Sequence[FastScore | PairJudgment] = (
                score_pairs(backend, texts) if fast else judge_pairs(backend, texts, options)
            )
            items += [_scored(r.label, res, r.source) for r, res in zip(step, results, strict=True)]
            bar.update(len(step))
    unscored = [Scored(r.label, None, None, None, None) for r in records if r.label not in DECISIVE]
    return items + unscored + [Scored(r.label, None, None, None, None, trained=True) for r in left_out]


def _key(record: PairRecord) -> str:
    return content_key(record.prompt, record.response_a, record.response_b)


def evaluate_dataset(
    db: Database,
    backend: Backend,
    dataset: str,
    *,
    protocol: Protocol,
    options: JudgeOptions,
    limit: int | None = None,
    batch_size: int = 8,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Evaluation:
    """Judge (and store) the labelled pairs the model has not judged yet, then evaluate them all."""
    run = JudgeRun(dataset, protocol, options, limit=limit, batch_size=batch_size, labelled_only=True)
    run_judging(db, backend, run, timeout_s=timeout_s)
    with db.session() as session:  # exactly the verdicts of this judge with these options
        dataset_id = get_dataset(session, dataset).id
        version_id = version_for(session, backend.spec).id
        return evaluate(
            stored_scores(
                session,
                dataset_id,
                backend.spec.name,
                protocol,
                limit=limit,
                version_id=version_id,
                options_key=run.options_key(),
            )
        )


def read_for_evaluation(path: Path, settings: Settings) -> list[PairRecord]:
    """A file's pairs, read before any model loads: each bad row is named in the log and the valid
    ones are still evaluated; a file without one pair labelled A or B is refused, with its first
    bad row."""
    parsed = parse_files([path], max_bytes=settings.max_import_bytes, max_chars=settings.max_field_chars)
    for error in parsed.errors:
        log.warning("left out of the evaluation: %s", error)
    if not any(r.label in DECISIVE for r in parsed.records):
        first = f"; the first bad row: {parsed.errors[0]}" if parsed.errors else ""
        raise InputFileError(str(path), f"no pair labelled A or B to evaluate{first}")
    return parsed.records


def evaluate_file(
    backend: Backend,
    records: Sequence[PairRecord],
    *,
    fast: bool,
    options: JudgeOptions,
    limit: int | None = None,
    show_progress: bool = False,
    trained: Set[str] = frozenset(),
) -> Evaluation:
    """Judge a file's labelled pairs (read by `read_for_evaluation`) in memory, nothing stored,
    and evaluate them, leaving out those whose content key is in `trained`."""
    scored = evaluate_records(
        backend, records, fast=fast, options=options, limit=limit, show_progress=show_progress, trained=trained
    )
    return evaluate(scored)


@dataclass
class DatasetReport:
    """A model's stored verdicts on a dataset, against the source's labels and people's labels."""

    model: str
    against_reference: Evaluation
    against_reviews: Evaluation
    confusion: dict[str, dict[str, int]]  # reference label -> model label -> pairs
    people_model_agreement: float | None  # share of reviewed (A/B) pairs where the model agrees
    agreement_n: int


def dataset_report(session: Session, dataset: str, model: str) -> DatasetReport:
    """Figures from the latest stored judgment of `model` (any protocol) on each pair."""
    dataset_id = get_dataset(session, dataset).id
    rows = session.execute(
        select(Pair.id, Pair.reference_label, Pair.source, Pair.prompt, Pair.response_a, Pair.response_b, Judgment)
        .join(Judgment, Judgment.id == latest_judgment_id(*model_conditions(model)))
        .where(Pair.dataset_id == dataset_id)
        .order_by(Pair.id)
    ).all()
    finals = dataset_finals(session, dataset_id)  # people's labels: the final one (core/review/consensus.py)
    trained_on = TrainedOn(session)
    by_reference, by_review, agree = [], [], []
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pair_id, reference, source, prompt, a, b, j in rows:
        reviewed = finals[pair_id].label if pair_id in finals else None
        trained = trained_on(j.model_version_id, prompt, a, b)
        by_reference.append(_scored(reference, j, source, trained=trained))
        if trained:  # in no figure: the counts say how many
            if reviewed is not None and reviewed != Label.SKIP:
                by_review.append(_scored(reviewed, j, source, trained=True))
            continue
        confusion[reference or "none"][j.label or "none"] += 1
        if reviewed is not None and reviewed != Label.SKIP:  # a skipped pair is not judgeable
            by_review.append(_scored(reviewed, j, source))
            if reviewed in DECISIVE:
                agree.append(reviewed == j.label)
    return DatasetReport(
        model=model,
        against_reference=evaluate(by_reference),
        against_reviews=evaluate(by_review),
        confusion={k: dict(v) for k, v in confusion.items()},
        people_model_agreement=sum(agree) / len(agree) if agree else None,
        agreement_n=len(agree),
    )
