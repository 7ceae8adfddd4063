"""Everything the studio shows one person about a pair: its texts, its judgments, their review,
colleagues' reviews, the final label, the history.

Plain data: how it looks is the studio's business (app/render.py), what it holds is decided here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.data.judgments import newest_first
from core.errors import NotFoundError
from core.review.reviews import history
from storage.tables import Judgment, Pair, Review, ReviewEvent


@dataclass(frozen=True)
class JudgmentView:
    id: int
    model: str
    protocol: str
    origin: str
    label: str | None
    confidence: float | None
    prob_a: float | None
    consistent: bool | None
    rationale: str | None
    orders: list[dict[str, Any]] = field(default_factory=list)
    votes: dict[str, Any] | None = None
    parse_error: str | None = None
    created_at: datetime | None = None
    explanation: dict[str, Any] | None = None  # written afterwards for its label (core/train/explain.py)

    @property
    def explained(self) -> str | None:
        """The explanation's text, where one was written."""
        text = self.explanation.get("rationale") if isinstance(self.explanation, dict) else None
        return text if isinstance(text, str) and text.strip() else None

    @property
    def title(self) -> str:
        """One line that tells this judgment from the pair's others."""
        orders = "+".join(str(o.get("order")) for o in self.orders) or "AB"
        votes = f" · {self.votes.get('k')} votes" if self.votes and self.votes.get("k") else ""
        when = f" · {self.created_at:%Y-%m-%d %H:%M}" if self.created_at else ""
        origin = "" if self.origin == "judge" else f" · {self.origin}"
        return f"#{self.id} · {self.model} · {self.protocol} · {orders}{votes}{origin} · {self.label or '?'}{when}"

    @classmethod
    def of(cls, j: Judgment) -> JudgmentView:
        return cls(
            j.id,
            j.model,
            j.protocol,
            j.origin,
            j.label,
            j.confidence,
            j.prob_a,
            j.consistent,
            j.rationale,
            # A damaged record's orders may be anything: kept as they are (in a list), so that only
            # this judgment's own view says it cannot be shown and the pair's texts still show.
            list(j.orders) if isinstance(j.orders, list) else [j.orders] if j.orders else [],
            j.votes,
            j.parse_error,
            j.created_at,
            j.explanation if isinstance(j.explanation, dict) else None,
        )


@dataclass(frozen=True)
class HistoryEntry:
    event_id: int
    when: datetime
    reviewer: str
    action: str
    change: str  # which fields changed, before → after, shortened


@dataclass(frozen=True)
class PeerReview:
    """A colleague's review of the pair (or the lead's final label), as the pair view lists it."""

    reviewer: str
    label: str | None
    rationale: str | None
    reason: str
    final: bool = False


@dataclass(frozen=True)
class PairDetail:
    pair_id: int
    source: str
    reference_label: str | None
    prompt: str
    conversation: list[dict[str, str]] | None  # the prompt's turns, when it came as a conversation
    response_a: str
    response_b: str
    judgments: list[JudgmentView]  # newest first: a fast score never hides an earlier rationale
    review_label: str | None
    review_reason: str  # why the person skipped it (with a skip only)
    reviewer: str | None
    review_rationale: str | None
    tags: list[str]
    note: str
    version: int  # the review's version: a save names it (optimistic concurrency)
    history: list[HistoryEntry]  # every change to the pair's reviews (everyone's)
    peers: list[PeerReview] = field(default_factory=list)  # colleagues' labelled reviews, then the final one
    stamp: int = 0  # grows with every change to any of the pair's reviews (ReviewNow.stamp)

    @property
    def judgment(self) -> JudgmentView | None:
        """The latest judgment."""
        return self.judgments[0] if self.judgments else None

    def chosen(self, judgment_id: int | None) -> JudgmentView | None:
        """The judgment with this id (one a person picked), else the latest."""
        return next((j for j in self.judgments if j.id == judgment_id), self.judgment)


def _change(before: Any, after: Any) -> str:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return "(damaged record)"
    changed = [k for k in after if before.get(k) != after.get(k)]
    return "; ".join(f"{k}: {str(before.get(k))[:30]!r} → {str(after.get(k))[:30]!r}" for k in changed)


def _entry(event: ReviewEvent) -> HistoryEntry:
    return HistoryEntry(event.id, event.created_at, event.reviewer, event.action, _change(event.before, event.after))


def _labelled(reviews: Iterable[Review]) -> list[PeerReview]:
    """The reviews that carry a label, people's first (in the order they were made), the final one last."""
    ordered = sorted(reviews, key=lambda r: (r.final, r.id))
    return [PeerReview(r.reviewer, r.label, r.rationale, r.reason, r.final) for r in ordered if r.label is not None]


def pair_detail(session: Session, pair_id: int, reviewer: str) -> PairDetail:
    """The pair as `reviewer` sees it: their own review, and their colleagues' beside it."""
    pair = session.scalar(
        select(Pair).where(Pair.id == pair_id).options(selectinload(Pair.judgments), selectinload(Pair.reviews))
    )
    if pair is None:
        raise NotFoundError(f"no pair with id {pair_id}")
    judgments = newest_first(pair.judgments)
    review = next((r for r in pair.reviews if not r.final and r.reviewer == reviewer), None)
    peers = _labelled(r for r in pair.reviews if r is not review)
    return PairDetail(
        pair_id=pair.id,
        source=pair.source,
        reference_label=pair.reference_label,
        prompt=pair.prompt,
        conversation=list(pair.conversation) if pair.conversation else None,
        response_a=pair.response_a,
        response_b=pair.response_b,
        judgments=[JudgmentView.of(j) for j in judgments],
        review_label=review.label if review else None,
        review_reason=review.reason if review else "",
        reviewer=review.reviewer if review else None,
        review_rationale=review.rationale if review else None,
        tags=list(review.tags) if review and isinstance(review.tags, list) else [],
        note=review.note if review else "",
        version=review.version if review else 0,
        history=[_entry(e) for e in history(session, pair_id)],
        peers=peers,
        stamp=sum(r.version for r in pair.reviews),
    )


def pair_reviews(session: Session, dataset: str, pair_id: int) -> tuple[list[PeerReview], int]:
    """Every labelled review of the dataset's pair (people's, then the final one), and the final
    review's version (what a lead's new final label names: core.review.reviews.save_review)."""
    pair = session.get(Pair, pair_id)
    if pair is None or pair.dataset.name != dataset:
        raise NotFoundError(f"dataset '{dataset}' has no pair {pair_id}")
    final_version = next((r.version for r in pair.reviews if r.final), 0)
    return _labelled(pair.reviews), final_version


def pair_texts(session: Session, pair_id: int) -> tuple[str, str, str]:
    """The pair's prompt and responses ("" where there is no such pair)."""
    pair = session.get(Pair, pair_id)
    return (pair.prompt, pair.response_a, pair.response_b) if pair is not None else ("", "", "")
