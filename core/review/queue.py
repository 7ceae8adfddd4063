"""The review queue: a dataset's pairs with their latest judgment and review, filtered, sorted, paged.

One SQL query per page (plus one count), so paging stays fast at 100,000 pairs
(benchmarks/queue_speed.py). Each row shows the pair's latest judgment (core/judge/judgments.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from core.data.datasets import get_dataset
from core.judge.judgments import latest_judgment_id
from core.vocab import DECISIVE, Label
from storage.tables import InstantScore, Judgment, Pair, Review

Status = Literal["all", "unjudged", "judged", "reviewed"]
Sort = Literal["id", "confidence-asc", "confidence-desc", "instant-uncertain"]


@dataclass(frozen=True)
class QueueFilter:
    dataset: str
    status: Status = "all"
    inconsistent_only: bool = False
    disagreeing_only: bool = False  # the model's label differs from the reference label
    tag: str = ""
    search: str = ""
    sort: Sort = "id"


@dataclass(frozen=True)
class QueueRow:
    pair_id: int
    status: str
    label: str | None
    confidence: float | None
    consistent: bool | None
    reference: str | None
    agrees: bool | None  # model label == reference (None when either is missing or a tie)
    reviewed_label: str | None
    prompt: str
    judge: str = ""  # whose verdict the row lists: the model and protocol of the latest judgment

    def cells(self) -> list[Any]:
        return [
            self.pair_id,
            self.status,
            self.label or "",
            "" if self.confidence is None else round(self.confidence, 3),
            {True: "yes", False: "NO", None: ""}[self.consistent],
            self.reference or "",
            {True: "yes", False: "NO", None: ""}[self.agrees],
            self.reviewed_label or "",
            self.prompt,
            self.judge,
        ]


QUEUE_COLUMNS = [
    "id",
    "status",
    "model",
    "confidence",
    "consistent",
    "reference",
    "agrees",
    "reviewed",
    "prompt",
    "judged by",
]


def _query(session: Session, f: QueueFilter, dataset_id: int) -> Any:
    latest = aliased(Judgment)
    query = (
        select(
            Pair.id,
            Pair.prompt,
            Pair.reference_label,
            latest.label,
            latest.confidence,
            latest.consistent,
            Review.label,
            latest.model,
            latest.protocol,
        )
        .select_from(Pair)
        .outerjoin(latest, latest.id == latest_judgment_id())
        .outerjoin(Review, Review.pair_id == Pair.id)
        .where(Pair.dataset_id == dataset_id)
    )
    if f.status == "unjudged":
        query = query.where(latest.id.is_(None))
    elif f.status == "judged":
        query = query.where(latest.id.is_not(None), Review.label.is_(None))
    elif f.status == "reviewed":
        query = query.where(Review.label.is_not(None))
    if f.inconsistent_only:
        query = query.where(latest.consistent.is_(False))
    if f.disagreeing_only:
        query = query.where(Pair.reference_label.in_(DECISIVE), latest.label != Pair.reference_label)
    if f.tag.strip():
        query = query.where(_has_tag(session, f.tag.strip()))
    if f.sort == "instant-uncertain":  # the instant judge's least sure first (core/train/instant.py)
        query = query.outerjoin(InstantScore, InstantScore.pair_id == Pair.id)
    return _searched(query, f)


def _has_tag(session: Session, tag: str) -> Any:
    """The review's tags hold `tag` (a whole value, compared as decoded JSON, in any script)."""
    if session.get_bind().dialect.name == "postgresql":
        elements = func.json_array_elements_text(Review.tags).table_valued("value")
    else:  # SQLite's JSON1
        elements = func.json_each(Review.tags).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == tag))


def _literal(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards and the escape character taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _searched(query: Any, f: QueueFilter) -> Any:
    if f.search.strip():
        needle = f"%{_literal(f.search.strip())}%"
        query = query.where(
            or_(*(column.ilike(needle, escape="\\") for column in (Pair.prompt, Pair.response_a, Pair.response_b)))
        )
    return query


def _count(session: Session, f: QueueFilter, dataset_id: int, query: Any) -> int:
    plain = f.status == "all" and not (f.inconsistent_only or f.disagreeing_only or f.tag.strip())
    if plain:  # no judgment or review condition: count the pairs alone (an index scan)
        query = _searched(select(Pair.id).where(Pair.dataset_id == dataset_id), f)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def queue_page(session: Session, f: QueueFilter, page: int = 0, page_size: int = 25) -> tuple[list[QueueRow], int]:
    """One page of the queue and the number of pairs the filter matches."""
    dataset_id = get_dataset(session, f.dataset).id
    query = _query(session, f, dataset_id)
    total = _count(session, f, dataset_id, query)
    confidence = query.selected_columns[4]
    order = {
        "id": [Pair.id],
        "confidence-asc": [confidence.is_(None), confidence.asc(), Pair.id],
        "confidence-desc": [confidence.is_(None), confidence.desc(), Pair.id],
        "instant-uncertain": [InstantScore.margin.is_(None), InstantScore.margin.asc(), Pair.id],
    }[f.sort]
    rows = [
        _row(*values) for values in session.execute(query.order_by(*order).offset(page * page_size).limit(page_size))
    ]
    return rows, total


def rows_now(session: Session, dataset: str, pair_ids: list[int]) -> list[QueueRow]:
    """The rows of these pairs as they are now (in the given order), whatever the filter said when
    the page was opened: a page's rows are refreshed in place after each action, not re-filtered."""
    query = _query(session, QueueFilter(dataset), get_dataset(session, dataset).id).where(Pair.id.in_(pair_ids))
    found = {values[0]: _row(*values) for values in session.execute(query)}
    return [found[i] for i in pair_ids if i in found]


def _row(
    pair_id: int,
    prompt: str,
    reference: str | None,
    label: str | None,
    confidence: float | None,
    consistent: bool | None,
    reviewed: str | None,
    model: str | None,
    protocol: str | None,
) -> QueueRow:
    status = "skipped" if reviewed == Label.SKIP else "reviewed" if reviewed else "judged" if label else "unjudged"
    agrees = None if label is None or reference not in DECISIVE else label == reference
    prompt_line = " ".join(prompt.split())[:160]
    judge = f"{model} ({protocol})" if model else ""
    return QueueRow(pair_id, status, label, confidence, consistent, reference, agrees, reviewed, prompt_line, judge)


@dataclass(frozen=True)
class Progress:
    """How far a dataset's review is: its pairs, those with a person's label, those by `reviewer`."""

    total: int
    reviewed: int
    by_reviewer: int

    def line(self, reviewer: str) -> str:
        return f"{self.reviewed} / {self.total} reviewed, {self.by_reviewer} by {reviewer}"


def review_progress(session: Session, dataset: str, reviewer: str) -> Progress:
    dataset_id = get_dataset(session, dataset).id
    total = session.scalar(select(func.count()).where(Pair.dataset_id == dataset_id)) or 0
    labelled = (
        select(func.count(), func.count().filter(Review.reviewer == reviewer))
        .select_from(Review)
        .join(Pair, Pair.id == Review.pair_id)
        .where(Pair.dataset_id == dataset_id, Review.label.is_not(None))
    )
    reviewed, by_reviewer = session.execute(labelled).one()
    return Progress(total, reviewed or 0, by_reviewer or 0)
