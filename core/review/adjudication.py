"""A lead settles a pair people disagree on: the final label (one per pair), which training and
exports then use (core/review/consensus.py). Only a role that may adjudicate sets it
(core/access/roles.py), only on a pair of the dataset named, and only over the final label the
lead saw (`version`): a lead who opened the pair before a colleague's final label gets a conflict,
not an overwrite."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.access.roles import Action, Team
from core.errors import GramError
from core.review.pair_view import pair_reviews
from core.review.reviews import save_review
from core.vocab import REVIEW_LABELS


def adjudicate(
    session: Session,
    team: Team,
    dataset: str,
    pair_id: int | None,
    lead: str,
    label: str | None,
    rationale: str = "",
    *,
    version: int,
) -> None:
    """Set the pair's final label (and its rationale) as `lead`'s."""
    team.require(lead, Action.ADJUDICATE)
    if not dataset or pair_id is None or not label:
        raise GramError("choose a pair and its final label")
    if label not in REVIEW_LABELS:
        raise GramError(f"a final label is one of {', '.join(REVIEW_LABELS)}, not {label!r}")
    pair_reviews(session, dataset, pair_id)  # the pair is this dataset's
    save_review(
        session,
        pair_id,
        reviewer=lead,
        final=True,
        expected_version=version,
        label=label,
        rationale=rationale.strip() or None,
    )
