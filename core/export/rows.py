"""Export a dataset as training data (TRL DPO, GRAM-R² rationale SFT) or as a full dump.

- dpo: TRL preference rows {prompt, chosen, rejected} from pairs with a final label (a lead's,
  else the reviewers' consensus: core/review/consensus.py); with include_reference, also pairs
  with only a reference label; with trusted_judge (a trust threshold: core/evaluation/trust.py),
  also unreviewed pairs whose latest verdict's confidence is at or above it, with the judge's
  label (counted apart, never as a person's). Ties, skips and disputed pairs are left out.
- sft: TRL prompt-completion rows in conversational form: the exact GRAM-R² user message, and
  the reply "<think>rationale</think><answer>label</answer>". The rationale is the one a person
  wrote or saved for the final label, else the model's, only where a person who chose that label
  had it on screen (reviews.rationale_seen) and it is not degenerate (core/judge/rationale_checks.py);
  what is left out is counted by reason.
- jsonl: every pair with its judgments, everyone's reviews and their history; `gram import`
  reads it back.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.data.datasets import get_dataset
from core.data.dump import dump_judgment, dump_review
from core.data.judgments import newest_first
from core.data.paths import file_in
from core.errors import GramError
from core.judge.rationale_checks import target_rationale
from core.review.consensus import FinalLabel, decide, shown_rationale
from core.text.prompting import gram_r2_user_message, rationale_target
from core.vocab import DECISIVE, Label
from storage.tables import Judgment, Pair, Review

log = logging.getLogger(__name__)

ExportFormat = Literal["dpo", "sft", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("dpo", "sft", "jsonl")


@dataclass
class ExportResult:
    rows: list[dict[str, Any]]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> pairs
    by_judge: int = 0  # dpo rows labelled by the judge above its trust threshold

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        judged = f" ({self.by_judge} labelled by the judge above its trust threshold)" if self.by_judge else ""
        return f"{len(self.rows)} rows{judged}" + (f"; skipped {skipped}" if skipped else "")


def _pairs(session: Session, dataset_id: int) -> Iterator[Pair]:
    query = (
        select(Pair)
        .where(Pair.dataset_id == dataset_id)
        .order_by(Pair.id)
        .options(
            selectinload(Pair.judgments),
            selectinload(Pair.reviews).selectinload(Review.events),
        )
        .execution_options(yield_per=500)
    )
    yield from session.scalars(query)


def _prompt_messages(pair: Pair) -> list[dict[str, str]]:
    return pair.conversation or [{"role": "user", "content": pair.prompt}]


def dpo_row(pair: Pair, label: str, conversational: bool) -> dict[str, Any]:
    chosen, rejected = (pair.response_a, pair.response_b) if label == Label.A else (pair.response_b, pair.response_a)
    if conversational:
        return {
            "prompt": _prompt_messages(pair),
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
    return {"prompt": pair.prompt, "chosen": chosen, "rejected": rejected}


def sft_row(pair: Pair, rationale: str, label: str) -> dict[str, Any]:
    user = gram_r2_user_message(pair.prompt, pair.response_a, pair.response_b)
    return {
        "prompt": [{"role": "user", "content": user}],
        "completion": [{"role": "assistant", "content": rationale_target(rationale, label)}],
    }


def dump_row(pair: Pair, reviews: list[Review] | None = None) -> dict[str, Any]:
    """The pair with its judgments and `reviews` (default: everyone's) and their history."""
    row: dict[str, Any] = {}
    if pair.external_id is not None:
        row["id"] = pair.external_id
    row.update(
        prompt=pair.prompt,
        response_a=pair.response_a,
        response_b=pair.response_b,
        label=pair.reference_label,
        source=pair.source,
        meta=pair.meta,
    )
    if pair.conversation:
        row["conversation"] = pair.conversation
    row["judgments"] = [dump_judgment(j) for j in pair.judgments]
    row["reviews"] = [dump_review(review, pair.judgments) for review in (pair.reviews if reviews is None else reviews)]
    return row


DAMAGED = "with a damaged stored record (logged; the rest exported)"


def export_rows(
    session: Session,
    dataset: str,
    fmt: ExportFormat,
    *,
    include_reference: bool = False,
    conversational: bool = False,
    reviewer: str | None = None,
    trusted_judge: float | None = None,
) -> ExportResult:
    """The dataset's rows in `fmt`. With `reviewer` (a reviewer's own export) only that person's
    reviews count and travel: nobody else's labels, rationales or history are in it. A pair whose
    stored records cannot be read is counted and logged, never the end of the export. With
    `trusted_judge` (dpo), unreviewed pairs the judge labels at or above that confidence join."""
    if fmt not in EXPORT_FORMATS:
        raise GramError(f"unknown export format '{fmt}'; use one of {', '.join(EXPORT_FORMATS)}")
    result = ExportResult([])
    for pair in _pairs(session, get_dataset(session, dataset).id):
        reviews = list(pair.reviews)
        if reviewer is not None:
            reviews = [r for r in reviews if not r.final and r.reviewer == reviewer]
        try:
            _export_pair(result, pair, reviews, fmt, include_reference, conversational, trusted_judge)
        except Exception:
            log.exception("export of %s: pair %s could not be read", dataset, pair.id)
            if fmt == "jsonl":  # a dump (a deletion's too) loses nothing: the columns as they are stored
                result.rows.append(raw_row(pair, reviews))
                result.skipped[RAW] += 1
            else:
                result.skipped[DAMAGED] += 1
    return result


RAW = "kept as their stored columns (a damaged record; `gram import` keeps them in meta)"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def raw_row(pair: Pair, reviews: list[Review]) -> dict[str, Any]:
    """A pair whose judgments or reviews cannot be dumped: its texts, and every stored column of
    them as it is, under keys a re-import keeps in `meta`."""

    def columns(row: Any) -> dict[str, Any]:
        return {c.key: _plain(getattr(row, c.key)) for c in row.__table__.columns}

    return {
        "prompt": pair.prompt,
        "response_a": pair.response_a,
        "response_b": pair.response_b,
        "label": pair.reference_label,
        "source": pair.source,
        "damaged_judgments": [columns(j) for j in pair.judgments],
        "damaged_reviews": [{**columns(r), "events": [columns(e) for e in r.events]} for r in reviews],
    }


def _export_pair(
    result: ExportResult,
    pair: Pair,
    reviews: list[Review],
    fmt: ExportFormat,
    include_reference: bool,
    conversational: bool,
    trusted_judge: float | None = None,
) -> None:
    if fmt == "jsonl":
        result.rows.append(dump_row(pair, reviews))
        return
    final = decide(pair.id, reviews)
    label = final.label
    if label is None and include_reference and fmt == "dpo" and final.how == "unreviewed":
        label = pair.reference_label
    if label is None and trusted_judge is not None and fmt == "dpo" and final.how == "unreviewed":
        latest = next(iter(newest_first(pair.judgments)), None)
        confidence = latest.confidence if latest is not None else None
        if latest is not None and latest.label in DECISIVE and isinstance(confidence, float):
            if confidence >= trusted_judge:
                result.rows.append(dpo_row(pair, latest.label, conversational))
                result.by_judge += 1
                return
            result.skipped["under the judge's trust threshold (they need a person)"] += 1
            return
    if final.how == "disputed":
        result.skipped["disputed by reviewers (no final label yet)"] += 1
    elif label is None:
        result.skipped["without a person's label"] += 1
    elif label == Label.TIE:
        result.skipped["tied"] += 1
    elif label == Label.SKIP:
        result.skipped["skipped by a reviewer as not judgeable"] += 1
    elif fmt == "dpo":
        result.rows.append(dpo_row(pair, label, conversational))
    else:
        rationale, problems = target_rationale(final, pair)
        if rationale is None:
            result.skipped[_why_no_rationale(final, pair.judgments)] += 1
        elif problems:
            result.skipped[f"with a degenerate model rationale ({problems[0]})"] += 1
        else:
            result.rows.append(sft_row(pair, rationale, label))


def _why_no_rationale(final: FinalLabel, judgments: list[Judgment]) -> str:
    if any(j.label == final.label and shown_rationale(j) for j in judgments):
        return "with a model rationale nobody had on screen when choosing the label"
    return "without a rationale for the chosen label"


def to_hf_dataset(rows: list[dict[str, Any]]) -> Any:  # a datasets.Dataset (imported lazily: slow)
    """The rows as a `datasets.Dataset`, ready for TRL's trainers."""
    import datasets

    return datasets.Dataset.from_list(rows)


def write_rows(rows: list[dict[str, Any]], out: Path) -> Path:
    """Write JSON Lines (.jsonl), one JSON array (.json) or Parquet (.parquet), atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        to_hf_dataset(rows).to_parquet(str(tmp))
    elif suffix == ".jsonl":
        with tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif suffix == ".json":
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(rows, handle, ensure_ascii=False)
    else:
        raise GramError(f"{out}: write .jsonl, .json or .parquet")
    tmp.replace(out)
    return out


def export_to_folder(
    session: Session,
    dataset: str,
    fmt: ExportFormat,
    folder: Path,
    *,
    include_reference: bool = False,
    reviewer: str | None = None,
) -> tuple[Path, ExportResult]:
    """Export a dataset into `folder` as `<dataset>-<id>-<format>-<time>-<random>.jsonl` (what the
    studio offers to download): each export its own file, so one person's never replaces another's,
    and the dataset's id keeps datasets whose names look alike as files apart."""
    result = export_rows(session, dataset, fmt, include_reference=include_reference, reviewer=reviewer)
    tail = f"-{get_dataset(session, dataset).id}-{fmt}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(8)}"
    return write_rows(result.rows, file_in(folder, dataset, ".jsonl", tail=tail)), result
