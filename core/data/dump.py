"""Judgments and reviews to and from plain JSON, for the full dump and its re-import.

One schema per record, used in both directions, so a dump and a restore cannot drift. A restore
checks every key, type and range (the orders of a judgment, its votes and timings, a review's
version, each history snapshot) before anything is stored: a stored row must never later break a
page, a save or an undo. Database ids do not travel: a review names its judgment by position in
the pair's list.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import GramError
from core.vocab import LABELS, REVIEW_LABELS, Order, Origin, Protocol, ReviewAction
from storage.tables import Judgment, Review, ReviewEvent, as_utc

Check = Callable[[Any, str], None]  # raises GramError naming the field
MAX_TEXT = 1_000_000  # characters in one stored text of a judgment or review (a rationale, a raw reply)
MAX_NAME = 200  # a reviewer's or a backend's name: the columns' width
MAX_VERSION = 10**9
MAX_TAGS = 100
MAX_TAG = 200
MAX_COUNT = 10**9


def _bad(field: str, what: str, value: Any) -> GramError:
    shown = type(value).__name__ if not isinstance(value, str | int | float | bool) else repr(value)[:40]
    return GramError(f"field '{field}' must be {what} (got {shown})")


def text(limit: int = MAX_TEXT) -> Check:
    def check(value: Any, field: str) -> None:
        if not isinstance(value, str):
            raise _bad(field, "text", value)
        if len(value) > limit:
            raise GramError(f"field '{field}' is {len(value):,} characters, over the limit of {limit:,}")

    return check


def name(value: Any, field: str) -> None:
    """A person's or a program's name: short text without control characters."""
    text(MAX_NAME)(value, field)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        raise GramError(f"field '{field}' contains a control character")


def one_of(*allowed: str) -> Check:
    def check(value: Any, field: str) -> None:
        if value not in allowed:
            raise _bad(field, "one of " + ", ".join(allowed), value)

    return check


def number(low: float, high: float) -> Check:
    def check(value: Any, field: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _bad(field, f"a number from {low} to {high}", value)
        if not low <= value <= high:
            raise _bad(field, f"a number from {low} to {high}", value)

    return check


def whole(low: int, high: int) -> Check:
    def check(value: Any, field: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _bad(field, f"a whole number from {low} to {high}", value)

    return check


def flag(value: Any, field: str) -> None:
    if not isinstance(value, bool):
        raise _bad(field, "true or false", value)


def when(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise _bad(field, "an ISO date and time", value)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _bad(field, "an ISO date and time", value) from None


def record(fields: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object with only these keys (None allowed for any but the required ones)."""

    def check(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            raise _bad(field, "an object", value)
        unknown = sorted(str(k) for k in value if k not in fields)
        if unknown:
            raise GramError(f"field '{field}' has unknown keys {unknown[:5]}")
        for key in required:
            if value.get(key) is None:
                raise GramError(f"field '{field}.{key}' is missing")
        for key, sub in value.items():
            if sub is not None:
                fields[key](sub, f"{field}.{key}")

    return check


def items(each: Check, most: int) -> Check:
    def check(value: Any, field: str) -> None:
        if not isinstance(value, list):
            raise _bad(field, "a list", value)
        if len(value) > most:
            raise GramError(f"field '{field}' has {len(value)} items, more than {most}")
        for index, item in enumerate(value):
            if item is None:
                raise GramError(f"field '{field}[{index}]' is empty")
            each(item, f"{field}[{index}]")

    return check


PROBABILITY = number(0.0, 1.0)
COUNT = whole(0, MAX_COUNT)
JUDGMENT_LABEL = one_of(*LABELS)
ORDER = record(
    {
        "order": one_of(*Order),
        "label": JUDGMENT_LABEL,
        "prob_a": PROBABILITY,
        "confidence": PROBABILITY,
        "rationale": text(),
        "raw_output": text(),
        "problem": text(),
        "tokens": COUNT,
        "guided": flag,
        "forced": flag,
        "head": flag,
    },
    required=("order",),
)
VOTES = record(
    {
        "A": COUNT,
        "B": COUNT,
        "invalid": COUNT,
        "k": COUNT,
        "share": PROBABILITY,
        "iteration": COUNT,
        "kept": flag,
        "dropped_by": text(MAX_NAME),
        "proof_score": number(-1e9, 1e9),
    }
)


def timings(value: Any, field: str) -> None:
    """Seconds and token counts by name."""
    if not isinstance(value, dict) or len(value) > 20:
        raise _bad(field, "an object of at most 20 timings", value)
    for key, sub in value.items():
        name(key, f"{field} key")
        number(0, 1e12)(sub, f"{field}.{key}")


# Each field a record carries in a dump, with its check (None is always allowed).
JUDGMENT_SCHEMA: dict[str, Check] = {
    "model": text(MAX_NAME * 5),
    "backend": name,
    "protocol": one_of(*Protocol),
    "origin": one_of(*Origin),
    "label": JUDGMENT_LABEL,
    "confidence": PROBABILITY,
    "prob_a": PROBABILITY,
    "rationale": text(),
    "orders": items(ORDER, 2),
    "consistent": flag,
    "votes": VOTES,
    "explanation": record(
        {"rationale": text(), "model": text(MAX_NAME * 5), "created_at": when, "proof_score": number(-1e9, 1e9)},
        required=("rationale",),
    ),
    "raw_output": text(),
    "parse_error": text(),
    "timings": timings,
    "options_key": text(64),
}
TAGS = items(text(MAX_TAG), MAX_TAGS)
# A review's state, as the review row holds it and each history event records before and after.
STATE_SCHEMA: dict[str, Check] = {
    "label": one_of(*REVIEW_LABELS),
    "reason": text(),
    "rationale": text(),
    "tags": TAGS,
    "note": text(),
}
# Fields every recorded state has (`reason` came later: states from before it lack it).
STATE_REQUIRED = ("label", "rationale", "tags", "note")
REVIEW_SCHEMA: dict[str, Check] = {
    **STATE_SCHEMA,
    "reviewer": name,
    "final": flag,
    "version": whole(0, MAX_VERSION),
    "rationale_seen": flag,
}
JUDGMENT_FIELDS = tuple(JUDGMENT_SCHEMA)
REVIEW_FIELDS = tuple(REVIEW_SCHEMA)
EVENT_FIELDS = ("action", "before", "after", "reviewer")


def check_state(state: Any, field: str) -> dict[str, Any]:
    """A review state (a history snapshot) with every key, type and range checked; GramError if not."""
    if not isinstance(state, dict):
        raise _bad(field, "an object", state)
    missing = [key for key in STATE_REQUIRED if key not in state]
    if missing:
        raise GramError(f"field '{field}' lacks {missing}")
    unknown = sorted(str(k) for k in state if k not in STATE_SCHEMA)
    if unknown:
        raise GramError(f"field '{field}' has unknown keys {unknown[:5]}")
    for key, value in state.items():
        if value is not None:
            STATE_SCHEMA[key](value, f"{field}.{key}")
    if state.get("tags") is None or state.get("note") is None:
        raise GramError(f"field '{field}': tags and note are a list and a text, never empty")
    return state


def _checked(data: Any, schema: dict[str, Check], extra: set[str], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise GramError(f"a {what} must be an object (got {type(data).__name__})")
    unknown = sorted(str(k) for k in set(data) - set(schema) - extra)
    if unknown:
        raise GramError(f"unknown {what} fields {unknown[:5]}")
    for key, check in schema.items():
        if data.get(key) is not None:
            try:
                check(data[key], key)
            except GramError as error:
                raise GramError(f"{what} {error}") from None
    return data


def _time_out(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).astimezone(UTC).isoformat()


def _time_in(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        when(value, what)
    except GramError as error:
        raise GramError(str(error)) from None
    return as_utc(datetime.fromisoformat(value))


def dump_judgment(judgment: Judgment) -> dict[str, Any]:
    data = {field: getattr(judgment, field) for field in JUDGMENT_FIELDS}
    data["created_at"] = _time_out(judgment.created_at)
    return data


def dump_review(review: Review, judgments: list[Judgment]) -> dict[str, Any]:
    data = {field: getattr(review, field) for field in REVIEW_FIELDS}
    data["updated_at"] = _time_out(review.updated_at)
    ids = [j.id for j in judgments]
    data["judgment_index"] = ids.index(review.judgment_id) if review.judgment_id in ids else None
    event_ids = [e.id for e in review.events]
    data["events"] = [
        {
            **{field: getattr(event, field) for field in EVENT_FIELDS},
            "created_at": _time_out(event.created_at),
            "target_index": (event_ids.index(event.target_event_id) if event.target_event_id in event_ids else None),
        }
        for event in review.events
    ]
    return data


def restore_judgment(data: Any) -> Judgment:
    _checked(data, JUDGMENT_SCHEMA, {"created_at"}, "judgment")
    if not data.get("model") or not data.get("backend"):
        raise GramError("a judgment needs 'model' and 'backend'")
    judgment = Judgment(**{field: data[field] for field in JUDGMENT_FIELDS if field in data})
    judgment.created_at = _time_in(data.get("created_at"), "judgment created_at") or judgment.created_at
    return judgment


def restore_review(data: Any, judgments: list[Judgment]) -> Review:
    _checked(data, REVIEW_SCHEMA, {"updated_at", "judgment_index", "events"}, "review")
    if not data.get("final") and not data.get("reviewer"):
        raise GramError("a review needs its 'reviewer' (only a final label may name none)")
    review = Review(**{field: data[field] for field in REVIEW_FIELDS if field in data})
    review.tags = list(data.get("tags") or [])
    review.note = data.get("note") or ""
    review.reason = data.get("reason") or ""
    review.version = data.get("version") or 0
    review.updated_at = _time_in(data.get("updated_at"), "review updated_at") or review.updated_at
    index = data.get("judgment_index")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(judgments):
            raise GramError(f"review names judgment {index!r:.20}, which the pair does not have")
        review.judgment = judgments[index]
    raw_events = data.get("events") or []
    if not isinstance(raw_events, list) or len(raw_events) > MAX_COUNT:
        raise GramError("review events must be a list")
    events: list[ReviewEvent] = []
    for number_, item in enumerate(raw_events):
        where = f"review event {number_ + 1}"
        if not isinstance(item, dict) or item.get("action") not in set(ReviewAction):
            raise GramError(f"{where} needs an action (edit, undo, redo or import)")
        unknown = sorted(str(k) for k in set(item) - {*EVENT_FIELDS, "created_at", "target_index"})
        if unknown:
            raise GramError(f"{where} has unknown fields {unknown[:5]}")
        try:
            before, after = check_state(item.get("before"), "before"), check_state(item.get("after"), "after")
            if item.get("reviewer") is not None:
                name(item["reviewer"], "reviewer")
        except GramError as error:
            raise GramError(f"{where}: {error}") from None
        event = ReviewEvent(action=item["action"], before=before, after=after, reviewer=item.get("reviewer") or "")
        event.created_at = _time_in(item.get("created_at"), f"{where} created_at") or event.created_at
        target = item.get("target_index")
        if target is not None:
            if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < len(events):
                raise GramError(f"{where} names event {target!r:.20}, which comes later or is absent")
            event.target_event = events[target]
        events.append(event)
    review.events = events
    return review
