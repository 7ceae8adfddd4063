"""Stored judgments: which one is a pair's latest, and which models judged a dataset.

"The latest judgment of a pair" is defined here once: the one with the highest id, among those
that match the conditions given (a model, a protocol). The pair view, evaluation and the exporter
ask this module. The queue reads the same rule, unconditioned, from `pairs.latest_judgment_id`,
which the store's triggers keep (migration 0010), so that a sorted page is an index walk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.data.datasets import get_dataset
from storage.tables import Judgment, Pair


def latest_judgment_id(*conditions: ColumnElement[bool]) -> Any:
    """A correlated scalar subquery: the id of the latest matching judgment of the outer `Pair`.

    It runs on the (pair_id, id) index, so a page of the queue touches only its own rows."""
    return (
        select(func.max(Judgment.id)).where(Judgment.pair_id == Pair.id, *conditions).correlate(Pair).scalar_subquery()
    )


def model_conditions(
    model: str | None = None,
    protocol: str | None = None,
    *,
    version_id: int | None = None,
    options_key: str | None = None,
) -> list[ColumnElement[bool]]:
    """The conditions that narrow judgments to one model (by name or version), protocol, options."""
    conditions: list[ColumnElement[bool]] = []
    if version_id is not None:
        conditions.append(Judgment.model_version_id == version_id)
    if options_key is not None:
        conditions.append(Judgment.options_key == options_key)
    if model is not None:
        conditions.append(Judgment.model == model)
    if protocol is not None:
        conditions.append(Judgment.protocol == protocol)
    return conditions


def by_construction(orders: object) -> bool:
    """The verdict's orders are a judge head's: it gives the swapped pair exactly 1 - P(A), so its
    two orders agree by construction and their agreement says nothing about position bias."""
    return (
        isinstance(orders, list) and bool(orders) and all(isinstance(o, dict) and o.get("head") is True for o in orders)
    )


def newest_first(judgments: Sequence[Judgment]) -> list[Judgment]:
    """A pair's loaded judgments, latest first (the same rule, for judgments already in memory)."""
    return sorted(judgments, key=lambda j: j.id, reverse=True)


def judged_models(session: Session, dataset: str) -> list[str]:
    """The models (as named on their judgments) that judged any pair of the dataset."""
    dataset_id = get_dataset(session, dataset).id
    query = select(Judgment.model).distinct().join(Pair).where(Pair.dataset_id == dataset_id).order_by(Judgment.model)
    return list(session.scalars(query))
