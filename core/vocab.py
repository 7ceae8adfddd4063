"""The fixed words that the store, the code and the studio share, one enum each.

They are StrEnums: a member equals the string stored in the database and written to JSON, so
rows written before these enums existed read back unchanged, and `Label.A == "A"`.
"""

from __future__ import annotations

from enum import StrEnum


class Label(StrEnum):
    """A preference label: which response is better, or neither; a person may also skip a pair
    as not judgeable (a review only: it never trains, scores or exports)."""

    A = "A"
    B = "B"
    TIE = "tie"
    SKIP = "skip"

    @property
    def flipped(self) -> Label:
        """The same preference with the two responses swapped."""
        return {Label.A: Label.B, Label.B: Label.A}.get(self, self)


# The outright preferences: what trains and scores (a judge may also be undecided, a tie).
DECISIVE: tuple[Label, ...] = (Label.A, Label.B)
# What a reference label (from a dataset) can be, and what a person's review can be.
LABELS: tuple[Label, ...] = (Label.A, Label.B, Label.TIE)
REVIEW_LABELS: tuple[Label, ...] = (*LABELS, Label.SKIP)


def label_for(prob_a: float) -> Label:
    """The letter a probability P(A better) leans to (what a forced answer writes)."""
    return Label.A if prob_a >= 0.5 else Label.B


def verdict_for(prob_a: float, undecided_within: float = 0.0) -> Label:
    """A judge's label from P(A better), the rule every path uses: a tie (undecided) when P(A) is
    within `undecided_within` of 0.5 (the backend's precision, core/backends/precision.py), and
    always at exactly 0.5, which names no winner; else the letter it leans to."""
    if abs(prob_a - 0.5) <= undecided_within:
        return Label.TIE
    return label_for(prob_a)


class Protocol(StrEnum):
    """How a judge was prompted: GRAM-R²'s rationale protocol, or GRAM's label-only fast path."""

    GRAM_R2 = "gram-r2"
    LABEL_ONLY = "label-only"


class Order(StrEnum):
    """The presentation order of a pair: as stored, or swapped."""

    AB = "AB"
    BA = "BA"


class Origin(StrEnum):
    """Where a judgment came from."""

    JUDGE = "judge"
    SELFTRAIN = "selftrain"
    IMPORT = "import"


class JobKind(StrEnum):
    JUDGE = "judge"
    ADAPT = "adapt"
    SELFTRAIN = "selftrain"


# The jobs that run in a worker process (the others run where they are started).
TRAINING_JOBS: tuple[JobKind, ...] = (JobKind.ADAPT, JobKind.SELFTRAIN)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A job in one of these states can be resumed by running the same work again.
class BatchStatus(StrEnum):
    """A batch of a judging job split for workers (core/jobs/batches.py)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


RESUMABLE: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED)
ACTIVE: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING)


class ReviewAction(StrEnum):
    """What a review event did."""

    EDIT = "edit"
    UNDO = "undo"
    REDO = "redo"
    IMPORT = "import"


class BackendName(StrEnum):
    """The inference backends (core/backends/): in-process transformers, vLLM's offline engine,
    or an OpenAI-compatible endpoint such as `vllm serve`."""

    TRANSFORMERS = "transformers"
    VLLM = "vllm"
    OPENAI = "openai"
