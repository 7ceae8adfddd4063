"""Judgments and reviews to and from plain JSON, for the full dump and its re-import.

One list of fields per record, used in both directions, so a dump and a restore cannot drift.
Database ids do not travel: a review names its judgment by position in the pair's list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.errors import GramError
from core.vocab import LABELS, REVIEW_LABELS, ReviewAction
from storage.tables import Judgment, Review, ReviewEvent, as_utc

# Each field a record carries in a dump, with the JSON types a restore accepts (None always).
JUDGMENT_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "backend": (str,),
    "protocol": (str,),
    "origin": (str,),
    "label": (str,),
    "confidence": (int, float),
    "prob_a": (int, float),
    "rationale": (str,),
    "orders": (list,),
    "consistent": (bool,),
    "votes": (dict,),
    "raw_output": (str,),
    "parse_error": (str,),
    "timings": (dict,),
    "options_key": (str,),
}
REVIEW_TYPES: dict[str, tuple[type, ...]] = {
    "label": (str,),
    "reason": (str,),
    "rationale": (str,),
    "tags": (list,),
    "note": (str,),
    "reviewer": (str,),
    "final": (bool,),
    "version": (int,),
}
JUDGMENT_FIELDS = tuple(JUDGMENT_TYPES)
REVIEW_FIELDS = tuple(REVIEW_TYPES)
EVENT_FIELDS = ("action", "before", "after", "reviewer")


def _time_out(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).astimezone(UTC).isoformat()


def _time_in(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise GramError(f"{what} {value!r} is not an ISO date and time") from None


def _check_types(data: dict[str, Any], kinds: dict[str, tuple[type, ...]], what: str) -> None:
    """Every field present has one of its allowed types (None is always allowed)."""
    for name, allowed in kinds.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool) and bool not in allowed):
            raise GramError(
                f"{what} field '{name}' must be {' or '.join(t.__name__ for t in allowed)} (got {value!r:.40})"
            )


def dump_judgment(judgment: Judgment) -> dict[str, Any]:
    data = {name: getattr(judgment, name) for name in JUDGMENT_FIELDS}
    data["created_at"] = _time_out(judgment.created_at)
    return data


def dump_review(review: Review, judgments: list[Judgment]) -> dict[str, Any]:
    data = {name: getattr(review, name) for name in REVIEW_FIELDS}
    data["updated_at"] = _time_out(review.updated_at)
    ids = [j.id for j in judgments]
    data["judgment_index"] = ids.index(review.judgment_id) if review.judgment_id in ids else None
    event_ids = [e.id for e in review.events]
    data["events"] = [
        {
            **{name: getattr(event, name) for name in EVENT_FIELDS},
            "created_at": _time_out(event.created_at),
            "target_index": (event_ids.index(event.target_event_id) if event.target_event_id in event_ids else None),
        }
        for event in review.events
    ]
    return data


def restore_judgment(data: dict[str, Any]) -> Judgment:
    unknown = set(data) - set(JUDGMENT_FIELDS) - {"created_at"}
    if unknown:
        raise GramError(f"unknown judgment fields {sorted(unknown)}")
    if data.get("label") not in (None, *LABELS):
        raise GramError(f"judgment label must be A, B or tie (undecided) (got {data.get('label')!r})")
    if not data.get("model") or not data.get("backend"):
        raise GramError("a judgment needs 'model' and 'backend'")
    _check_types(data, JUDGMENT_TYPES, "judgment")
    judgment = Judgment(**{name: data[name] for name in JUDGMENT_FIELDS if name in data})
    judgment.created_at = _time_in(data.get("created_at"), "judgment created_at") or judgment.created_at
    return judgment


def restore_review(data: dict[str, Any], judgments: list[Judgment]) -> Review:
    if data.get("label") not in (None, *REVIEW_LABELS):
        raise GramError(f"review label must be A, B, tie or skip (got {data.get('label')!r})")
    _check_types(data, REVIEW_TYPES, "review")
    if not all(isinstance(tag, str) for tag in data.get("tags") or []):
        raise GramError("review tags must be a list of texts")
    review = Review(**{name: data[name] for name in REVIEW_FIELDS if name in data})
    review.updated_at = _time_in(data.get("updated_at"), "review updated_at") or review.updated_at
    index = data.get("judgment_index")
    if index is not None:
        if not isinstance(index, int) or not 0 <= index < len(judgments):
            raise GramError(f"review names judgment {index!r}, which the pair does not have")
        review.judgment = judgments[index]
    events: list[ReviewEvent] = []
    for item in data.get("events") or []:
        if not isinstance(item, dict) or item.get("action") not in set(ReviewAction):
            raise GramError("a review event needs an action (edit, undo, redo or import)")
        if not isinstance(item.get("before", {}), dict) or not isinstance(item.get("after", {}), dict):
            raise GramError("a review event's before and after must be objects")
        event = ReviewEvent(**{name: item[name] for name in EVENT_FIELDS if name in item})
        event.created_at = _time_in(item.get("created_at"), "review event created_at") or event.created_at
        target = item.get("target_index")
        if target is not None:
            if not isinstance(target, int) or not 0 <= target < len(events):
                raise GramError(f"review event names event {target!r}, which comes later or is absent")
            event.target_event = events[target]
        events.append(event)
    review.events = events
    return review
