"""The store's tables, as typed SQLAlchemy 2 models.

The schema itself is owned by the Alembic migrations in `storage/migrations`; a test checks that
these models and the migrated database agree. Models hold data only: services in `core/` commit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones; all were written in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def outside_models(name: str | None) -> bool:
    """A schema object that migrations keep but the models cannot describe: the text-search index
    (migration 0009: SQLite's FTS5 table `pairs_text` and its shadow tables, PostgreSQL's GIN
    trigram indexes) and the queue's expression indexes (0010). Schema comparisons leave them out."""
    return name is not None and (name.startswith(("pairs_text", "ix_pairs_queue_")) or name.endswith("_trigrams"))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    guidelines: Mapped[str] = mapped_column(Text, default="")  # Markdown, shown beside each pair under review
    # How many people should review each pair (a team's overlap; core/review/queue.py offers a
    # pair to each person until it has this many reviews).
    reviews_per_pair: Mapped[int] = mapped_column(Integer, default=1)
    # Its pairs: kept by triggers on `pairs` (migration 0014), never set by the program.
    pair_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    pairs: Mapped[list[Pair]] = relationship(back_populates="dataset", passive_deletes=True)


# The queue's sparse filters, each with a partial index of the dataset's pairs that meet it (0012,
# 0013). A database uses a partial index only for a query that states the same condition, so the
# queue (core/review/queue.py) writes these very texts.
PAIR_FILTERS = {
    "inconsistent": "latest_consistent = false",
    "unjudged": "latest_judgment_id IS NULL",
    "disagreements": "review_labels > 1",
}


# Columns an index also holds on PostgreSQL, so that a count is answered from the index alone:
# "inconsistent" is most often combined with "disagreeing with the reference" (0015).
_FILTER_INCLUDES = {"inconsistent": ["latest_label", "reference_label"]}


def _filter_index(name: str, where: str) -> Index:
    """A dataset's pairs that meet `where`, in id order."""
    include = _FILTER_INCLUDES.get(name, [])
    return Index(
        f"ix_pairs_{name}",
        "dataset_id",
        "id",
        sqlite_where=text(where),
        postgresql_where=text(where),
        postgresql_include=include,
    )


class Pair(Base):
    """A prompt and two responses, with the human reference label when the source had one."""

    __tablename__ = "pairs"
    __table_args__ = (
        UniqueConstraint("dataset_id", "content_hash"),
        Index("ix_pairs_dataset_id_id", "dataset_id", "id"),
        *(_filter_index(name, where) for name, where in PAIR_FILTERS.items()),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    # Always the prompt as text (a multi-turn conversation rendered as a transcript), so that
    # search and the judge prompt have one field to read; `conversation` keeps the messages.
    prompt: Mapped[str] = mapped_column(Text)
    conversation: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    response_a: Mapped[str] = mapped_column(Text)
    response_b: Mapped[str] = mapped_column(Text)
    reference_label: Mapped[str | None] = mapped_column(String(3), default=None)  # A, B, tie
    source: Mapped[str] = mapped_column(String(300), default="")
    external_id: Mapped[str | None] = mapped_column(String(300), default=None)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The latest judgment (highest id), its confidence, label and consistency: kept by triggers on
    # `judgments` (migrations 0010, 0013), never set by the program. The queue filters and sorts on them.
    latest_judgment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    latest_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    latest_label: Mapped[str | None] = mapped_column(String(8), default=None)  # and its label (0013)
    latest_consistent: Mapped[bool | None] = mapped_column(Boolean, default=None)  # and its consistency (0013)
    # People's labels of the pair (not a lead's final one) and how many distinct labels they are:
    # kept by triggers on `reviews` (migration 0012). "Needs you" and "people disagree" read them.
    review_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    review_labels: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    dataset: Mapped[Dataset] = relationship(back_populates="pairs")
    judgments: Mapped[list[Judgment]] = relationship(
        back_populates="pair", order_by="Judgment.id", passive_deletes=True
    )
    # Each person's review, and the lead's final (adjudicated) one: core/review/consensus.py
    # decides the pair's label from them.
    reviews: Mapped[list[Review]] = relationship(back_populates="pair", order_by="Review.id", passive_deletes=True)


class ModelVersion(Base):
    """A judge: a base model, optionally with a LoRA adapter and a judge head trained from a parent version."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    base_model: Mapped[str] = mapped_column(Text)
    adapter_path: Mapped[str | None] = mapped_column(Text, default=None)
    head_path: Mapped[str | None] = mapped_column(Text, default=None)  # a judge head on top (the fast path)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"), default=None)
    training_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Judgment(Base):
    """One verdict of a model on a pair. A pair can have many; reviews never change them."""

    __tablename__ = "judgments"
    __table_args__ = (Index("ix_judgments_pair_id_id", "pair_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), default=None
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    model: Mapped[str] = mapped_column(Text)  # model name as it was, kept if the version goes
    backend: Mapped[str] = mapped_column(String(40))
    # The words in these columns are core.vocab's enums (the store does not import core; a test checks).
    protocol: Mapped[str] = mapped_column(String(40), default="gram-r2")  # Protocol
    origin: Mapped[str] = mapped_column(String(40), default="judge")  # Origin
    label: Mapped[str | None] = mapped_column(String(3), default=None)  # A, B, tie (undecided); None: unparseable
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    prob_a: Mapped[float | None] = mapped_column(Float, default=None)  # P(A better than B)
    rationale: Mapped[str | None] = mapped_column(Text, default=None)
    # Each presentation order's result: [{"order": "AB"|"BA", "label", "confidence", ...}].
    orders: Mapped[list[Any]] = mapped_column(JSON, default=list)
    consistent: Mapped[bool | None] = mapped_column(Boolean, default=None)
    votes: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # A rationale written afterwards for this verdict's label by the generative model, told the
    # label (core/train/explain.py): {"rationale", "model", "created_at", "proof_score"} (0018).
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    raw_output: Mapped[str | None] = mapped_column(Text, default=None)
    parse_error: Mapped[str | None] = mapped_column(Text, default=None)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A hash of the judging options that change a verdict (protocol, orders, votes, budget...): with
    # model_version_id, what "this pair is already judged by this judge" means.
    options_key: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    pair: Mapped[Pair] = relationship(back_populates="judgments")


class Review(Base):
    """A person's current verdict on a pair (one per person), or the final one a lead set when
    people disagreed (`final`, one per pair). Every change is also an appended ReviewEvent."""

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_pair_id", "pair_id"),
        Index(
            "ix_reviews_person",
            "pair_id",
            "reviewer",
            unique=True,
            sqlite_where=text("NOT final"),
            postgresql_where=text("NOT final"),
        ),
        Index(
            "ix_reviews_final",
            "pair_id",
            unique=True,
            sqlite_where=text("final"),
            postgresql_where=text("final"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    # The adjudicated label: its `reviewer` is the lead who last set it.
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    judgment_id: Mapped[int | None] = mapped_column(ForeignKey("judgments.id", ondelete="SET NULL"), default=None)
    # The judgment's rationale was on the person's screen when they labelled (migration 0017): only
    # then may it be exported or trained on as theirs. None: not recorded (reviews before 0017).
    rationale_seen: Mapped[bool | None] = mapped_column(Boolean, default=None)
    label: Mapped[str | None] = mapped_column(String(8), default=None)  # A, B, tie, skip (core.vocab)
    rationale: Mapped[str | None] = mapped_column(Text, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was skipped (not judgeable)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(200), default="")
    # The instant judge's P(A) when the pair was first labelled, from a head that never trained on
    # it: each review is then a held-out test of the instant judge (core/head/instant.py).
    instant_prob_a: Mapped[float | None] = mapped_column(Float, default=None)
    # Optimistic concurrency: an edit names the version it started from, and every UPDATE says
    # "WHERE version = <the one read>" (version_id_col), so two writers cannot both succeed.
    # The code sets the next version itself (version_id_generator=False): imports keep theirs.
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    pair: Mapped[Pair] = relationship(back_populates="reviews")
    judgment: Mapped[Judgment | None] = relationship()
    events: Mapped[list[ReviewEvent]] = relationship(
        back_populates="review", order_by="ReviewEvent.id", passive_deletes=True
    )


class ReviewEvent(Base):
    """Append-only audit trail: the review's state before and after each action."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(40))  # edit | undo | redo | import
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    reviewer: Mapped[str] = mapped_column(String(200), default="")
    # For undo/redo: the event whose change this one reverses or re-applies.
    target_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_events.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    review: Mapped[Review] = relationship(back_populates="events")
    target_event: Mapped[ReviewEvent | None] = relationship(remote_side=[id])


class ReviewHold(Base):
    """Who has a pair open from their "needs you" queue, until when: a colleague's queue steps
    past it, so two people reviewing at once do not start on the same pair (core/review/holds.py)."""

    __tablename__ = "review_holds"

    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PairFeature(Base):
    """A pair's judge-head features (core/head/features.py) under one model version and recipe,
    kept by the fast path so a head is fitted without running the model again."""

    __tablename__ = "pair_features"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    recipe: Mapped[str] = mapped_column(String(100))  # prompt length budget and layers read
    data: Mapped[bytes] = mapped_column(LargeBinary)  # float16, little-endian

    __table_args__ = (UniqueConstraint("model_version_id", "recipe", "pair_id"),)


class ReviewTag(Base):
    """One tag of one review, kept from `reviews.tags` by triggers (migration 0012), never written
    by the program: the queue's tag filter looks a tag up here instead of reading every review."""

    __tablename__ = "review_tags"
    __table_args__ = (Index("ix_review_tags_tag_pair", "tag", "pair_id"),)

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    pair_id: Mapped[int] = mapped_column(Integer)


class InstantScore(Base):
    """The instant judge's latest P(A) for a pair it did not train on (core/head/instant.py)."""

    __tablename__ = "instant_scores"

    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    prob_a: Mapped[float] = mapped_column(Float)
    margin: Mapped[float] = mapped_column(Float)  # |P(A) - 0.5|: the queue's "least sure first"
    trained_on: Mapped[int] = mapped_column(Integer)  # reviewed pairs the head learnt from
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_instant_scores_dataset_margin", "dataset_id", "margin"),)


class Job(Base):
    """Long work (judging, training): status and progress for the UI and the CLI."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # core.vocab.JobKind
    status: Mapped[str] = mapped_column(String(20), default="queued")  # core.vocab.JobStatus
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer, default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # The runner holding the job (host/pid/start time, core.jobs.claims) and the key of the work it
    # does: at most one queued or running job per key.
    runner: Mapped[str | None] = mapped_column(String(200), default=None)
    work_key: Mapped[str | None] = mapped_column(String(64), default=None)
    # The login that started it (None: the command line, or a job from before migration 0016).
    owner: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (
        Index(
            "ix_jobs_active_work_key",
            "work_key",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )


class JobBatch(Base):
    """One batch of a judging job split for workers (core/jobs/batches.py): the pairs it judges and
    the worker that holds it, kept alive by a heartbeat so a dead worker's batch is taken over."""

    __tablename__ = "job_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # the order batches are handed out in
    pair_ids: Mapped[list[int]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # core.vocab.BatchStatus
    worker: Mapped[str | None] = mapped_column(String(200), default=None)  # a core.jobs.claims.Runner
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims, takeovers included
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    seconds: Mapped[float | None] = mapped_column(Float, default=None)  # judging time of the finished batch

    __table_args__ = (Index("ix_job_batches_job_id_status", "job_id", "status"),)
