"""A reviewer's queue: a dataset's pairs with their latest judgment and this person's review,
filtered, sorted, paged.

One SQL query per page (plus one count), so paging stays fast at a million pairs
(benchmarks/queue_speed.py). Each row shows the pair's latest judgment (core/data/judgments.py),
the reviewer's own label and how many people have labelled it. "needs you" lists the pairs the
reviewer has not labelled that have fewer reviews than the dataset's `reviews_per_pair`;
"disagreements" the pairs whose reviewers chose different labels. The pair itself carries what
the sorts and these filters read (its latest judgment, its people's labels: triggers keep them,
migrations 0010 and 0012), and a filtered queue counts its matches only up to `COUNT_CAP`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from sqlalchemy import column, exists, func, literal_column, or_, select, table, text
from sqlalchemy.orm import Session, aliased

from core.data.datasets import get_dataset
from core.data.judgments import by_construction
from core.vocab import DECISIVE, Label
from storage.tables import PAIR_FILTERS, Dataset, InstantScore, Judgment, Pair, Review, ReviewEvent, ReviewTag

# judged: not by you yet; reviewed: by you
Status = Literal["all", "unjudged", "judged", "reviewed", "skipped", "needs-you", "needs-person", "disagreements"]
STATUSES: list[tuple[str, Status]] = [
    ("all", "all"),
    ("needs you", "needs-you"),
    ("needs a person (under the trust threshold)", "needs-person"),
    ("unjudged", "unjudged"),
    ("judged, not by you", "judged"),
    ("reviewed by you", "reviewed"),
    ("skipped by you", "skipped"),
    ("people disagree", "disagreements"),
]
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
    reviewer: str = ""  # whose queue: their own label is the row's "reviewed"
    # "needs-person": the trust threshold (core/evaluation/trust.py) pairs under which need a
    # person; None: there is none yet, so every pair does.
    trust_below: float | None = None


@dataclass(frozen=True)
class QueueRow:
    pair_id: int
    status: str
    label: str | None
    confidence: float | None
    consistent: bool | None
    reference: str | None
    agrees: bool | None  # model label == reference (None when either is missing or a tie)
    reviewed_label: str | None  # the queue's reviewer's own label
    prompt: str
    judge: str = ""  # whose verdict the row lists: the model and protocol of the latest judgment
    reviews: int = 0  # people who labelled the pair
    needed: int = 1  # the dataset's reviews per pair
    head: bool = False  # a judge head's verdict: its two orders agree by construction

    def cells(self) -> list[Any]:
        return [
            self.pair_id,
            self.status,
            self.reviewed_label or "",
            self.label or "",
            "" if self.confidence is None else round(self.confidence, 3),
            {True: "yes", False: "NO", None: ""}[self.agrees],
            "by construction" if self.head else {True: "yes", False: "NO", None: ""}[self.consistent],
            self.reference or "",
            self.prompt,
            self.judge,
            f"{self.reviews} of {self.needed}",
        ]


# What a reviewer decides by comes first (it fits the queue's column at 1366 px without scrolling
# sideways); the rest is a sideways scroll away.
QUEUE_COLUMNS = [
    "id",
    "status",
    "reviewed",  # the person's own label
    "model",
    "confidence",
    "agrees",  # the model's label against the reference
    "consistent",
    "reference",
    "prompt",
    "judged by",
    "reviews",
]


# A filtered queue counts its matches up to here and then says "more than": an exact count of a
# filter that half a million pairs match reads all of them, on every page.
COUNT_CAP = 10_000
# Pages that start before this many rows are read forwards whatever the count. Skipping a few rows
# costs nothing, and reading a short result "from the end" misled PostgreSQL: for 11 search
# matches it walked a million pairs backwards by id, expecting to meet them early (6 s).
SHALLOW = 1_000


def _labelled_by(reviewer: str, label: str | None = None) -> Any:
    """The reviewer has labelled the row's pair (with `label`, where given; an EXISTS: on PostgreSQL
    a left join's IS NULL was estimated at one row, and the plan built on that ran for minutes at a
    million pairs)."""
    chosen = Review.label.is_not(None) if label is None else Review.label == label
    return exists().where(Review.pair_id == Pair.id, Review.final.is_(False), Review.reviewer == reviewer, chosen)


def _conditions(session: Session, f: QueueFilter, dataset: Dataset) -> list[Any]:
    """The filter's conditions on a pair of the dataset: all on the pair's own columns, a sparse
    filter's written as its partial index's (storage.tables.PAIR_FILTERS)."""
    where: list[Any] = [Pair.dataset_id == dataset.id]
    if f.status == "unjudged":
        where.append(text(PAIR_FILTERS["unjudged"]))
    elif f.status == "judged":
        where += [Pair.latest_judgment_id.is_not(None), ~_labelled_by(f.reviewer)]
    elif f.status == "reviewed":
        where.append(_labelled_by(f.reviewer))
    elif f.status == "skipped":
        where.append(_labelled_by(f.reviewer, Label.SKIP))
    elif f.status == "needs-you":
        where += [Pair.review_count < dataset.reviews_per_pair, ~_labelled_by(f.reviewer)]
    elif f.status == "needs-person":  # under the threshold (or unjudged), and not reviewed enough yet
        if f.trust_below is not None:
            where.append(or_(Pair.latest_confidence.is_(None), Pair.latest_confidence < f.trust_below))
        where.append(Pair.review_count < dataset.reviews_per_pair)
    elif f.status == "disagreements":
        where.append(text(PAIR_FILTERS["disagreements"]))
    if f.inconsistent_only:
        where.append(text(PAIR_FILTERS["inconsistent"]))
    if f.disagreeing_only:
        where += [Pair.reference_label.in_(DECISIVE), Pair.latest_label != Pair.reference_label]
    if f.tag.strip():
        where.append(_has_tag(f.tag.strip()))
    return where + _searched(session, f)


def _query(session: Session, f: QueueFilter, dataset: Dataset) -> Any:
    """The filter's rows of the dataset (its reviews per pair decide "needs you")."""
    return _rows_query(f, _conditions(session, f, dataset))


def _rows_query(f: QueueFilter, conditions: list[Any]) -> Any:
    """The rows (with their latest judgment and the reviewer's own label) of the pairs that meet `conditions`."""
    latest = aliased(Judgment)
    mine = aliased(Review)
    query = (
        select(
            Pair.id,
            Pair.prompt,
            Pair.reference_label,
            latest.label,
            latest.confidence,
            latest.consistent,
            mine.label,
            latest.model,
            latest.protocol,
            Pair.review_count,
            latest.orders,
        )
        .select_from(Pair)
        .outerjoin(latest, latest.id == Pair.latest_judgment_id)  # kept by triggers (migration 0010)
        .outerjoin(mine, (mine.pair_id == Pair.id) & mine.final.is_(False) & (mine.reviewer == f.reviewer))
        .where(*conditions)
    )
    if f.sort == "instant-uncertain":  # the instant judge's least sure first (core/head/instant.py)
        query = query.outerjoin(InstantScore, InstantScore.pair_id == Pair.id)
    return query


def _has_tag(tag: str) -> Any:
    """One of the pair's reviews (anyone's) has the tag `tag` (a whole value, as typed): looked up
    in the tags' rows (migration 0012)."""
    return Pair.id.in_(select(ReviewTag.pair_id).where(ReviewTag.tag == tag))


def _literal(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards and the escape character taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# SQLite's trigram index of the pairs' text (migration 0009); PostgreSQL's trigram indexes serve
# the ILIKE below as they are. Either answers a needle of three characters or more.
PAIRS_TEXT = table("pairs_text", column("rowid"))
TRIGRAM = 3


def _searched(session: Session, f: QueueFilter) -> list[Any]:
    """Pairs whose prompt or a response contains the search text (case-insensitive, as typed)."""
    needle = f.search.strip()
    if not needle:
        return []
    if len(needle) >= TRIGRAM and session.get_bind().dialect.name == "sqlite":
        phrase = '"' + needle.replace('"', '""') + '"'  # an FTS5 string: every character literal
        found = select(PAIRS_TEXT.c.rowid).where(literal_column("pairs_text").op("MATCH")(phrase))
        return [Pair.id.in_(found)]
    pattern = f"%{_literal(needle)}%"
    return [or_(*(column.ilike(pattern, escape="\\") for column in (Pair.prompt, Pair.response_a, Pair.response_b)))]


class QueuePage(NamedTuple):
    rows: list[QueueRow]
    total: int  # the pairs the filter matches; when not `counted`, only a lower bound
    counted: bool = True


def _count(session: Session, dataset_id: int, conditions: list[Any], up_to: int | None) -> tuple[int, bool]:
    """(matches, whether that is all of them): the dataset's pairs, as the dataset counts them
    (migration 0014); a filter's matches up to `up_to` + 1, on the pair's own columns."""
    if len(conditions) == 1:  # no filter: all the dataset's pairs
        return _pair_count(session, dataset_id), True
    query = select(Pair.id).where(*conditions)
    if up_to is not None:
        query = query.limit(up_to + 1)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return (up_to, False) if up_to is not None and total > up_to else (total, True)


def _pair_count(session: Session, dataset_id: int) -> int:
    """The dataset's pairs as its row counts them now (read afresh: a dataset object loaded earlier
    in the session would show the count of then)."""
    return session.scalar(select(Dataset.pair_count).where(Dataset.id == dataset_id)) or 0


def queue_page(
    session: Session, f: QueueFilter, page: int = 0, page_size: int = 25, count_up_to: int | None = None
) -> QueuePage:
    """One page of the queue and the number of pairs the filter matches; with `count_up_to`, a
    filtered queue stops counting past it (then not `counted`, and pages are read forwards)."""
    dataset = get_dataset(session, f.dataset)
    conditions = _conditions(session, f, dataset)
    query = _rows_query(f, conditions)
    total, counted = _count(session, dataset.id, conditions, count_up_to)
    start = page * page_size
    if not counted or start < SHALLOW or start + page_size <= total // 2:
        found = list(session.execute(query.order_by(*_order(f.sort)).offset(start).limit(page_size)))
    else:  # a deep page in the second half is read from the end: the last page is as quick as the first
        backwards = query.order_by(*_order(f.sort, backwards=True))
        end = max(total - start - page_size, 0)
        found = list(session.execute(backwards.offset(end).limit(min(page_size, total - start))))[::-1]
    return QueuePage([_row(*values, needed=dataset.reviews_per_pair) for values in found], total, counted)


def _order(sort: Sort, *, backwards: bool = False) -> list[Any]:
    """ORDER BY terms of the queue's sort (or its exact reverse): the key, then the pair id in the
    same direction, so that one index walked either way serves both."""
    key, ascending = _sort_key(sort)
    return [key.asc(), Pair.id.asc()] if ascending != backwards else [key.desc(), Pair.id.desc()]


def _sort_key(sort: Sort) -> tuple[Any, bool]:
    """The queue's sort as (key, ascending), the pair id breaking ties. Each confidence key matches
    an index of migration 0010 exactly, and puts unjudged pairs last (a confidence is in [0, 1])."""
    # The constants are written into the SQL, not bound: an index on an expression serves only
    # that same expression, and `coalesce(x, ?)` is not `coalesce(x, 2.0)`.
    if sort == "confidence-asc":
        return func.coalesce(Pair.latest_confidence, literal_column("2.0")), True
    if sort == "confidence-desc":
        return func.coalesce(Pair.latest_confidence, literal_column("-1.0")), False
    if sort == "instant-uncertain":  # the instant judge's least sure first; unscored last
        return func.coalesce(InstantScore.margin, literal_column("2.0")), True
    return Pair.id, True


def rows_now(session: Session, dataset: str, pair_ids: list[int], reviewer: str) -> list[QueueRow]:
    """The rows of these pairs as they are now (in the given order), whatever the filter said when
    the page was opened: a page's rows are refreshed in place after each action, not re-filtered."""
    found_dataset = get_dataset(session, dataset)
    query = _query(session, QueueFilter(dataset, reviewer=reviewer), found_dataset).where(Pair.id.in_(pair_ids))
    needed = found_dataset.reviews_per_pair
    found = {values[0]: _row(*values, needed=needed) for values in session.execute(query)}
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
    reviews: int | None,
    orders: Any,
    *,
    needed: int,
) -> QueueRow:
    status = "skipped" if reviewed == Label.SKIP else "reviewed" if reviewed else "judged" if label else "unjudged"
    agrees = None if label is None or reference not in DECISIVE else label == reference
    prompt_line = " ".join(prompt.split())[:160]
    judge = f"{model} ({protocol})" if model else ""
    return QueueRow(
        pair_id,
        status,
        label,
        confidence,
        consistent,
        reference,
        agrees,
        reviewed,
        prompt_line,
        judge,
        reviews or 0,
        needed,
        by_construction(orders),
    )


def filtered_ids(session: Session, f: QueueFilter, limit: int) -> list[int]:
    """The ids of the pairs the filter lists (at most `limit`), in id order."""
    query = _query(session, f, get_dataset(session, f.dataset)).with_only_columns(Pair.id)
    return list(session.scalars(query.order_by(Pair.id).limit(limit)))


def matching(session: Session, f: QueueFilter, pair_ids: list[int]) -> set[int]:
    """Which of these pairs the filter lists now (say, which still need the reviewer)."""
    query = _query(session, f, get_dataset(session, f.dataset)).where(Pair.id.in_(pair_ids))
    return set(session.scalars(query.with_only_columns(Pair.id)))


@dataclass(frozen=True)
class Progress:
    """How far a dataset's review is: its pairs, those with as many people's labels as the dataset
    asks for, those `reviewer` labelled."""

    total: int
    reviewed: int
    by_reviewer: int
    needed: int = 1

    def line(self, reviewer: str) -> str:
        times = f" by {self.needed} people" if self.needed > 1 else ""
        return f"{self.reviewed} / {self.total} reviewed{times}, {self.by_reviewer} by {reviewer}"


def progress_key(session: Session, dataset: str) -> tuple[str, int, int, int]:
    """What the progress counts depend on, read by index look-ups: the dataset, its reviews per
    pair, its newest pair and the latest review change anywhere (so the counts are redone only
    after an import or a review)."""
    found = get_dataset(session, dataset)
    newest = session.scalar(select(func.max(Pair.id)).where(Pair.dataset_id == found.id)) or 0
    latest = session.scalar(select(func.max(ReviewEvent.id))) or 0
    return dataset, found.reviews_per_pair, newest, latest


def review_progress(session: Session, dataset: str, reviewer: str) -> Progress:
    found = get_dataset(session, dataset)
    total = _pair_count(session, found.id)
    mine = func.count().filter(Review.reviewer == reviewer)
    per_pair = (
        select(Review.pair_id, func.count().label("people"), mine.label("mine"))
        .join(Pair, Pair.id == Review.pair_id)
        .where(Pair.dataset_id == found.id, Review.final.is_(False), Review.label.is_not(None))
        .group_by(Review.pair_id)
        .subquery()
    )
    reviewed, by_reviewer = session.execute(
        select(func.count().filter(per_pair.c.people >= found.reviews_per_pair), func.sum(per_pair.c.mine))
    ).one()
    return Progress(total, reviewed or 0, by_reviewer or 0, found.reviews_per_pair)


def first_visit(session: Session, dataset: str, reviewer: str) -> tuple[bool, bool]:
    """(whether `reviewer` has reviewed nothing of the dataset yet, whether any of its pairs is judged)."""
    found = get_dataset(session, dataset)
    mine = select(Review.id).join(Pair, Pair.id == Review.pair_id)
    mine = mine.where(Pair.dataset_id == found.id, Review.reviewer == reviewer, Review.final.is_(False))
    judged = select(Pair.id).where(Pair.dataset_id == found.id, Pair.latest_judgment_id.is_not(None))
    return session.scalar(mine.limit(1)) is None, session.scalar(judged.limit(1)) is not None
