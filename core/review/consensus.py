"""A pair's final label, from its reviews: what training, the instant judge, figures and exports use.

The rule (README, "Reviewing as a team"):
- a lead's final (adjudicated) label, where one was set;
- else the people's consensus: the label most of the pair's reviewers chose (a skip counts as a
  choice). A tie at the top is a disagreement: the pair has no final label until a lead sets one.
A single review is its own consensus. A final "skip" or "tie" keeps the pair out of training
like a person's would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.tables import Judgment, Pair, Review

How = Literal["adjudicated", "consensus", "disputed", "unreviewed"]


class ReviewLike(Protocol):
    """What the rule reads of a review: a Review, or a row of these columns (REVIEW_COLUMNS)."""

    @property
    def pair_id(self) -> int: ...
    @property
    def reviewer(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def final(self) -> bool: ...
    @property
    def rationale(self) -> str | None: ...
    @property
    def judgment_id(self) -> int | None: ...
    @property
    def rationale_seen(self) -> bool | None: ...
    @property
    def updated_at(self) -> datetime: ...


REVIEW_COLUMNS = (
    Review.pair_id,
    Review.reviewer,
    Review.label,
    Review.final,
    Review.rationale,
    Review.judgment_id,
    Review.rationale_seen,
    Review.updated_at,
)


@dataclass(frozen=True)
class FinalLabel:
    pair_id: int
    label: str | None  # A, B, tie, skip; None: unreviewed or disputed
    how: How
    votes: dict[str, int]  # people's labels (not the final one) -> how many chose it
    rationale: str | None = None  # written for the final label: the lead's, else a person's who chose it
    judgment_id: int | None = None  # the judgment whose verdict a person who chose it accepted
    seen_rationale_of: int | None = None  # the judgment whose rationale such a person had on screen


def people(reviews: Iterable[ReviewLike]) -> list[ReviewLike]:
    """The pair's reviews by people that carry a label (not the lead's final one)."""
    return [r for r in reviews if not r.final and r.label is not None]


def decide(pair_id: int, reviews: Sequence[ReviewLike]) -> FinalLabel:
    """The pair's final label from all its review rows (the rule above)."""
    votes = Counter(r.label for r in people(reviews) if r.label)
    final = next((r for r in reviews if r.final and r.label is not None), None)
    if final is not None:
        seen = final.judgment_id if final.rationale_seen else None
        return FinalLabel(
            pair_id, final.label, "adjudicated", dict(votes), final.rationale or None, final.judgment_id, seen
        )
    if not votes:
        return FinalLabel(pair_id, None, "unreviewed", {})
    (top, n), *rest = votes.most_common()
    if rest and rest[0][1] == n:
        return FinalLabel(pair_id, None, "disputed", dict(votes))
    chose = sorted((r for r in people(reviews) if r.label == top), key=lambda r: r.updated_at, reverse=True)
    rationale = next((r.rationale for r in chose if r.rationale), None)
    judgment = next((r.judgment_id for r in chose if r.judgment_id is not None), None)
    seen = next((r.judgment_id for r in chose if r.judgment_id is not None and r.rationale_seen), None)
    return FinalLabel(pair_id, top, "consensus", dict(votes), rationale, judgment, seen)


def confirmed_rationale(final: FinalLabel, judgments: Iterable[Judgment]) -> str | None:
    """The rationale for the final label: written (or saved) by a person, else the model's, only
    from the judgment whose rationale a person who chose that label had on screen, and only where
    its verdict is that label. A rationale nobody was shown is nobody's."""
    if final.label is None:
        return None
    if final.rationale:
        return final.rationale
    seen = next((j for j in judgments if j.id == final.seen_rationale_of), None)
    if seen is None or seen.label != final.label:
        return None
    return shown_rationale(seen)


def shown_rationale(judgment: Judgment) -> str | None:
    """The rationale a judgment shows: its own, else the explanation written for its label."""
    if isinstance(judgment.rationale, str) and judgment.rationale.strip():
        return judgment.rationale
    explanation = judgment.explanation if isinstance(judgment.explanation, dict) else {}
    text = explanation.get("rationale")
    return text if isinstance(text, str) and text.strip() else None


def _decided(rows: Iterable[ReviewLike], pair_ids: Iterable[int] = ()) -> dict[int, FinalLabel]:
    """The final label of each pair these review rows (REVIEW_COLUMNS) belong to, and of each of
    `pair_ids` (unreviewed where it has no row)."""
    by_pair: dict[int, list[ReviewLike]] = {i: [] for i in pair_ids}
    for review in rows:
        by_pair.setdefault(review.pair_id, []).append(review)
    return {pair_id: decide(pair_id, reviews) for pair_id, reviews in by_pair.items()}


def final_labels(session: Session, pair_ids: Iterable[int]) -> dict[int, FinalLabel]:
    """The final label of each of these pairs (read 500 pairs at a time)."""
    ids = list(pair_ids)
    found: dict[int, FinalLabel] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(_decided(session.execute(select(*REVIEW_COLUMNS).where(Review.pair_id.in_(chunk))), chunk))
    return found


def dataset_finals(session: Session, dataset_id: int) -> dict[int, FinalLabel]:
    """The final label of each pair of the dataset that has a review (the columns the rule reads,
    as plain rows: no texts, no objects)."""
    query = select(*REVIEW_COLUMNS).join(Pair, Pair.id == Review.pair_id).where(Pair.dataset_id == dataset_id)
    return _decided(session.execute(query.execution_options(yield_per=2000)))


def reviewed_finals(session: Session, dataset_id: int) -> Iterator[tuple[Pair, FinalLabel]]:
    """Each pair of the dataset that people reviewed, with its final label, in id order."""
    reviewed = select(Review.pair_id).join(Pair, Pair.id == Review.pair_id).where(Pair.dataset_id == dataset_id)
    query = (
        select(Pair)
        .where(Pair.id.in_(reviewed))
        .order_by(Pair.id)
        .options(selectinload(Pair.reviews), selectinload(Pair.judgments))
        .execution_options(yield_per=500)
    )
    for pair in session.scalars(query):
        yield pair, decide(pair.id, pair.reviews)
