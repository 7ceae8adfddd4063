"""Recognise the shape of preference data and convert each row into PairRecords.

Each format names the columns that identify it; `detect` picks the first whose columns the file
has. A converter raises RowRejected(field, reason) for a row it cannot use. Columns a format
does not consume are kept in the pair's `meta`, so nothing the file said is dropped. The
converters of published evaluation sets are in benchmark_formats.py; field readers in fields.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.data.benchmark_formats import convert_bigbench, convert_llmbar, convert_pandalm
from core.data.dump import restore_judgment, restore_review
from core.data.fields import (
    RowContext,
    checked_text,
    chosen_rejected_pair,
    external_id,
    label_field,
    messages_field,
    other_columns,
    prompt_field,
    ranked_pairs,
    text_field,
)
from core.data.pair_record import PairRecord, RowRejected, render_conversation
from core.errors import GramError

Converter = Callable[[dict[str, Any], RowContext], list[PairRecord]]


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    required: frozenset[str]
    convert: Converter
    # Columns whose presence rules this format out (e.g. pairwise rows that also say "chosen").
    excludes: frozenset[str] = frozenset()


# --- formats ---------------------------------------------------------------------------------


def convert_pairwise(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """{prompt, response_a, response_b, label?}; also GRAM Studio's own full dump."""
    prompt, conversation = prompt_field(data.get("prompt"), "prompt", ctx)
    if data.get("conversation"):  # a dump keeps the messages beside the rendered prompt
        conversation = messages_field(data["conversation"], "conversation", ctx)
    used = {"prompt", "conversation", "response_a", "response_b", "label", "source", "id"}
    used |= {"judgments", "review", "reviews"}
    judgments = data.get("judgments") or []
    # Dumps made before a pair could have several reviews carry one "review" object.
    reviews = data["reviews"] if "reviews" in data else [data["review"]] if data.get("review") is not None else []
    _check_dump(judgments, reviews)
    return [
        PairRecord(
            prompt=prompt,
            conversation=conversation,
            response_a=text_field(data, "response_a", ctx),
            response_b=text_field(data, "response_b", ctx),
            label=label_field(data.get("label")),
            source=str(data.get("source") or ctx.source),
            external_id=external_id(data, "id"),
            meta=other_columns(data, used, ctx),
            judgments=judgments,
            reviews=reviews,
        )
    ]


def _check_dump(judgments: Any, reviews: Any) -> None:
    """Reject a dump row whose judgments or reviews could not be restored."""
    if not isinstance(judgments, list) or not all(isinstance(j, dict) for j in judgments):
        raise RowRejected("judgments", "expected a list of judgment objects")
    if not isinstance(reviews, list) or not all(isinstance(r, dict) for r in reviews):
        raise RowRejected("reviews", "expected a list of review objects")
    try:
        restored = [restore_judgment(item) for item in judgments]
    except GramError as error:
        raise RowRejected("judgments", str(error)) from None
    try:
        owners = [restore_review(review, restored) for review in reviews]
    except GramError as error:
        raise RowRejected("reviews", str(error)) from None
    keys = [("final",) if r.final else ("person", r.reviewer or "") for r in owners]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        whose = "the final label" if twice == ("final",) else f"the review by {twice[-1]!r}"
        raise RowRejected("reviews", f"{whose} is given twice; a pair has one review per person")


def convert_trl_explicit(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """TRL preference with an explicit prompt, standard (text) or conversational (messages)."""
    prompt, conversation = prompt_field(data.get("prompt"), "prompt", ctx)
    chosen, rejected = (_completion(data.get(k), k, ctx) for k in ("chosen", "rejected"))
    used = {"prompt", "chosen", "rejected", "source", "id"}
    return [
        chosen_rejected_pair(
            prompt,
            conversation,
            chosen,
            rejected,
            source=str(data.get("source") or ctx.source),
            external_id=external_id(data, "id"),
            meta=other_columns(data, used, ctx),
        )
    ]


def _completion(value: Any, key: str, ctx: RowContext) -> str:
    """A TRL completion: text, or a list holding one assistant message."""
    if isinstance(value, list):
        messages = messages_field(value, key, ctx)
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            raise RowRejected(key, "a conversational completion must be one assistant message")
        return messages[0]["content"]
    return text_field({key: value}, key, ctx)


HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def _hh_turns(transcript: str, key: str) -> list[dict[str, str]]:
    parts = HH_TURN.split("\n\n" + transcript.lstrip("\n"))
    if parts[0].strip():
        raise RowRejected(key, "an HH transcript must start with 'Human:'")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)]


def convert_implicit(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """{chosen, rejected} whose shared beginning is the prompt.

    Conversational: lists of messages that share a prefix (TRL's implicit-prompt form).
    Text: Anthropic HH transcripts ('\\n\\nHuman: ...\\n\\nAssistant: ...'), split into turns.
    """
    chosen_raw, rejected_raw = data.get("chosen"), data.get("rejected")
    if isinstance(chosen_raw, list) and isinstance(rejected_raw, list):
        chosen_turns = messages_field(chosen_raw, "chosen", ctx)
        rejected_turns = messages_field(rejected_raw, "rejected", ctx)
    elif isinstance(chosen_raw, str) and isinstance(rejected_raw, str):
        if "Assistant:" not in chosen_raw or "Human:" not in chosen_raw:
            raise RowRejected(
                "chosen",
                "text without a prompt: expected an HH transcript ('Human: ... Assistant: ...') or a 'prompt' column",
            )
        chosen_turns = _hh_turns(chosen_raw, "chosen")
        rejected_turns = _hh_turns(rejected_raw, "rejected")
    else:
        raise RowRejected("chosen", "chosen and rejected must both be text or both message lists")
    shared = 0
    while shared < min(len(chosen_turns), len(rejected_turns)) and chosen_turns[shared] == rejected_turns[shared]:
        shared += 1
    prefix = chosen_turns[:shared]
    for key, turns in (("chosen", chosen_turns), ("rejected", rejected_turns)):
        rest = turns[shared:]
        if len(rest) != 1 or rest[0]["role"] != "assistant":
            raise RowRejected(key, "after the shared prompt there must be exactly one assistant turn")
    if not prefix or prefix[-1]["role"] != "user":
        raise RowRejected("chosen", "the shared prompt must end with a user turn")
    for index, message in enumerate(prefix):
        checked_text(f"chosen[{index}]", message["content"], ctx, response=False)
    chosen = checked_text("chosen", chosen_turns[shared]["content"], ctx, response=True)
    rejected = checked_text("rejected", rejected_turns[shared]["content"], ctx, response=True)
    conversation = prefix if len(prefix) > 1 else None
    return [
        chosen_rejected_pair(
            render_conversation(prefix),
            conversation,
            chosen,
            rejected,
            source=str(data.get("source") or ctx.source),
            external_id=external_id(data, "id"),
            meta=other_columns(data, {"chosen", "rejected", "source", "id"}, ctx),
        )
    ]


def convert_ranking(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """{prompt, responses: [...], scores: [...] | ranks: [...]}: expanded into all pairs.

    A response may also be an object {text|content|response, score|rank}. Ranks: 1 is best.
    """
    prompt, conversation = prompt_field(data.get("prompt"), "prompt", ctx)
    responses = data.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise RowRejected("responses", "expected a list of at least two responses")
    scores, ranks = data.get("scores"), data.get("ranks")
    candidates: list[tuple[str, float]] = []
    for index, item in enumerate(responses):
        key = f"responses[{index}]"
        if isinstance(item, dict):
            text_key = next((k for k in ("text", "content", "response") if k in item), None)
            if text_key is None:
                raise RowRejected(key, "a response object needs 'text', 'content' or 'response'")
            text = text_field(item, text_key, ctx)
            value, is_rank = (item.get("score"), False) if "score" in item else (item.get("rank"), True)
        else:
            text = text_field({key: item}, key, ctx)
            value, is_rank = (
                (scores[index], False)
                if isinstance(scores, list) and index < len(scores)
                else (ranks[index] if isinstance(ranks, list) and index < len(ranks) else None, True)
            )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise RowRejected(key, "each response needs a numeric score or rank")
        candidates.append((text, -float(value) if is_rank else float(value)))
    return ranked_pairs(
        prompt,
        conversation,
        candidates,
        source=str(data.get("source") or ctx.source),
        external_id=external_id(data, "id"),
        meta=other_columns(data, {"prompt", "responses", "scores", "ranks", "source", "id"}, ctx),
    )


# Most specific first: detection takes the first format whose columns are all present.
FORMATS: tuple[Format, ...] = (
    Format(
        "pairwise",
        "{prompt, response_a, response_b, label?} (also GRAM Studio's full dump)",
        frozenset({"prompt", "response_a", "response_b"}),
        convert_pairwise,
    ),
    Format(
        "trl-preference",
        "TRL preference with explicit prompt {prompt, chosen, rejected}, text or messages",
        frozenset({"prompt", "chosen", "rejected"}),
        convert_trl_explicit,
    ),
    Format(
        "trl-implicit",
        "TRL implicit-prompt preference or Anthropic HH transcripts {chosen, rejected}",
        frozenset({"chosen", "rejected"}),
        convert_implicit,
        excludes=frozenset({"prompt"}),
    ),
    Format(
        "ranking",
        "N-response ranking {prompt, responses, scores | ranks}, expanded into pairs",
        frozenset({"prompt", "responses"}),
        convert_ranking,
    ),
    Format(
        "bigbench",
        "BIG-bench multiple choice {input, target_scores}, e.g. HHH alignment",
        frozenset({"input", "target_scores"}),
        convert_bigbench,
    ),
    Format(
        "llmbar",
        "LLMBar {input, output_1, output_2, label: 1|2}",
        frozenset({"input", "output_1", "output_2"}),
        convert_llmbar,
    ),
    Format(
        "pandalm",
        "PandaLM {instruction, input, response1, response2, annotator1..3}",
        frozenset({"instruction", "response1", "response2"}),
        convert_pandalm,
    ),
)
FORMATS_BY_NAME = {fmt.name: fmt for fmt in FORMATS}


def detect(columns: set[str]) -> Format | None:
    """The first format whose required columns are all in `columns`."""
    for fmt in FORMATS:
        if fmt.required <= columns and not (fmt.excludes & columns):
            return fmt
    return None
