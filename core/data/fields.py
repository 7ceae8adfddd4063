"""Reading one field of an input row: text, messages, labels, ids, and the columns a format leaves.

Every reader raises RowRejected(field, reason) for a value it cannot use, so the importer can
report `file: row N, field F: reason` and keep the file's other rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from core.data.identity import stable_coin
from core.data.pair_record import PairRecord, RowRejected, render_conversation
from core.errors import OPTIONS
from core.vocab import LABELS, Label

MAX_RANKED = 100  # responses in one ranking row: N of them expand into N(N-1)/2 pairs


@dataclass(frozen=True)
class RowContext:
    source: str  # default source name (the file's stem) when the row has none
    max_chars: int
    allow_empty: bool = False
    file_meta: dict[str, Any] | None = None
    text_cells: dict[str, str] | None = None  # CSV cells read as JSON, as the text they were


def _as_text(value: Any, key: str, ctx: RowContext) -> Any:
    """A CSV cell holds text: where text is wanted, its own text, not the JSON it looked like."""
    if not isinstance(value, str) and ctx.text_cells and key in ctx.text_cells:
        return ctx.text_cells[key]
    return value


def text_field(data: dict[str, Any], key: str, ctx: RowContext, *, response: bool = True) -> str:
    value = _as_text(data.get(key), key, ctx)
    if value is None:
        raise RowRejected(key, "missing")
    if isinstance(value, bool | int | float):  # PandaLM has a few boolean "responses"
        value = str(value)
    if not isinstance(value, str):
        raise RowRejected(key, f"expected text, got {type(value).__name__}")
    return checked_text(key, value, ctx, response=response)


def checked_text(key: str, value: str, ctx: RowContext, *, response: bool) -> str:
    if not value.strip() and not (response and ctx.allow_empty):
        hint = f" (use {OPTIONS['allow_empty'].cli} to keep empty responses)" if response else ""
        raise RowRejected(key, f"empty {'response' if response else 'prompt'}{hint}")
    if len(value) > ctx.max_chars:
        raise RowRejected(key, f"{len(value):,} characters, over the limit of {ctx.max_chars:,} (GRAM_MAX_FIELD_CHARS)")
    return value


def messages_field(value: Any, key: str, ctx: RowContext) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RowRejected(key, "expected a non-empty list of messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise RowRejected(f"{key}[{index}]", "a message needs 'role' and 'content'")
        content = message["content"]
        if not isinstance(content, str):
            raise RowRejected(f"{key}[{index}].content", "expected text")
        checked_text(f"{key}[{index}].content", content, ctx, response=message["role"] == "assistant")
        messages.append({"role": str(message["role"]), "content": content})
    return messages


def prompt_field(value: Any, key: str, ctx: RowContext) -> tuple[str, list[dict[str, str]] | None]:
    """A prompt given as text or as a conversation; returns (text, messages or None)."""
    if isinstance(value, list):
        try:
            return _conversation(value, key, ctx)
        except RowRejected:
            if not (ctx.text_cells and key in ctx.text_cells):
                raise
            # a CSV cell that only looked like JSON: its own text is the prompt (text_field reads it)
    return text_field({key: value}, key, ctx, response=False), None


def _conversation(value: list[Any], key: str, ctx: RowContext) -> tuple[str, list[dict[str, str]] | None]:
    messages = messages_field(value, key, ctx)
    if messages[-1]["role"] != "user":
        raise RowRejected(key, "a conversation prompt must end with a user message")
    if len(messages) == 1:
        return messages[0]["content"], None
    return render_conversation(messages), messages


def label_field(value: Any, key: str = "label") -> Label | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        for label in LABELS:
            if value.strip().lower() == label.lower():
                return label
    raise RowRejected(key, f"label must be A, B or tie (got {value!r})")


def external_id(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if data.get(key) is not None:
            return str(data[key])
    return None


def other_columns(data: dict[str, Any], used: set[str], ctx: RowContext) -> dict[str, Any]:
    meta = dict(data.get("meta") or {}) if isinstance(data.get("meta"), dict) else {}
    meta.update({k: v for k, v in data.items() if k not in used and k != "meta"})
    if ctx.file_meta:
        meta.update(ctx.file_meta)
    return meta


def chosen_rejected_pair(
    prompt: str,
    conversation: list[dict[str, str]] | None,
    chosen: str,
    rejected: str,
    *,
    source: str,
    external_id: str | None,
    meta: dict[str, Any],
) -> PairRecord:
    """A chosen/rejected pair, with the chosen response placed at A or B by a stable coin."""
    chosen_first = stable_coin(prompt, chosen, rejected)
    return PairRecord(
        prompt=prompt,
        conversation=conversation,
        response_a=chosen if chosen_first else rejected,
        response_b=rejected if chosen_first else chosen,
        label=Label.A if chosen_first else Label.B,
        source=source,
        external_id=external_id,
        meta=meta,
    )


def ranked_pairs(
    prompt: str,
    conversation: list[dict[str, str]] | None,
    candidates: list[tuple[str, float]],
    *,
    source: str,
    external_id: str | None,
    meta: dict[str, Any],
) -> list[PairRecord]:
    """Every pair of N scored responses (higher score is better; equal scores tie)."""
    if len(candidates) > MAX_RANKED:
        raise RowRejected(
            "responses", f"{len(candidates)} responses to rank, more than {MAX_RANKED} (that is over 4,950 pairs a row)"
        )
    pairs = []
    for (i, (text_i, score_i)), (j, (text_j, score_j)) in combinations(enumerate(candidates), 2):
        i_first = stable_coin(prompt, text_i, text_j)
        (a, score_a, ia), (b, score_b, ib) = (
            ((text_i, score_i, i), (text_j, score_j, j)) if i_first else ((text_j, score_j, j), (text_i, score_i, i))
        )
        label = Label.TIE if score_a == score_b else (Label.A if score_a > score_b else Label.B)
        pairs.append(
            PairRecord(
                prompt=prompt,
                conversation=conversation,
                response_a=a,
                response_b=b,
                label=label,
                source=source,
                external_id=f"{external_id}:{ia}-{ib}" if external_id else None,
                meta={**meta, "ranking_positions": [ia, ib]},
            )
        )
    return pairs
