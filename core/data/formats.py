"""Recognise the shape of preference data and convert each row into PairRecords.

Each format names the columns that identify it; `detect` picks the first whose columns the file
has. A converter raises RowRejected(field, reason) for a row it cannot use. Columns a format
does not consume are kept in the pair's `meta`, so nothing the file said is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from core.data.dump import restore_judgment, restore_review
from core.data.records import (
    LABELS,
    Label,
    PairRecord,
    RowRejected,
    render_conversation,
    stable_coin,
)
from core.errors import GramError


@dataclass(frozen=True)
class RowContext:
    source: str  # default source name (the file's stem) when the row has none
    max_chars: int
    allow_empty: bool = False
    file_meta: dict[str, Any] | None = None


Converter = Callable[[dict[str, Any], RowContext], list[PairRecord]]


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    required: frozenset[str]
    convert: Converter
    # Columns whose presence rules this format out (e.g. pairwise rows that also say "chosen").
    excludes: frozenset[str] = frozenset()


# --- field helpers ---------------------------------------------------------------------------


def _text(data: dict[str, Any], key: str, ctx: RowContext, *, response: bool = True) -> str:
    value = data.get(key)
    if value is None:
        raise RowRejected(key, "missing")
    if isinstance(value, bool | int | float):  # PandaLM has a few boolean "responses"
        value = str(value)
    if not isinstance(value, str):
        raise RowRejected(key, f"expected text, got {type(value).__name__}")
    return _check_text(key, value, ctx, response=response)


def _check_text(key: str, value: str, ctx: RowContext, *, response: bool) -> str:
    if not value.strip() and not (response and ctx.allow_empty):
        hint = " (use --allow-empty to keep empty responses)" if response else ""
        raise RowRejected(key, f"empty {'response' if response else 'prompt'}{hint}")
    if len(value) > ctx.max_chars:
        raise RowRejected(
            key, f"{len(value):,} characters, over the limit of {ctx.max_chars:,} (GRAM_MAX_FIELD_CHARS)"
        )
    return value


def _messages(value: Any, key: str, ctx: RowContext) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RowRejected(key, "expected a non-empty list of messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise RowRejected(f"{key}[{index}]", "a message needs 'role' and 'content'")
        content = message["content"]
        if not isinstance(content, str):
            raise RowRejected(f"{key}[{index}].content", "expected text")
        _check_text(f"{key}[{index}].content", content, ctx, response=message["role"] == "assistant")
        messages.append({"role": str(message["role"]), "content": content})
    return messages


def _prompt(value: Any, key: str, ctx: RowContext) -> tuple[str, list[dict[str, str]] | None]:
    """A prompt given as text or as a conversation; returns (text, messages or None)."""
    if isinstance(value, list):
        messages = _messages(value, key, ctx)
        if messages[-1]["role"] != "user":
            raise RowRejected(key, "a conversation prompt must end with a user message")
        if len(messages) == 1:
            return messages[0]["content"], None
        return render_conversation(messages), messages
    return _text({key: value}, key, ctx, response=False), None


def _label(value: Any, key: str = "label") -> Label | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        for label in LABELS:
            if value.strip().lower() == label.lower():
                return label
    raise RowRejected(key, f"label must be A, B or tie (got {value!r})")


def _external_id(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if data.get(key) is not None:
            return str(data[key])
    return None


def _rest(data: dict[str, Any], used: set[str], ctx: RowContext) -> dict[str, Any]:
    meta = dict(data.get("meta") or {}) if isinstance(data.get("meta"), dict) else {}
    meta.update({k: v for k, v in data.items() if k not in used and k != "meta"})
    if ctx.file_meta:
        meta.update(ctx.file_meta)
    return meta


def _chosen_rejected_pair(
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
        label="A" if chosen_first else "B",
        source=source,
        external_id=external_id,
        meta=meta,
    )


# --- formats ---------------------------------------------------------------------------------


def convert_pairwise(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """{prompt, response_a, response_b, label?}; also GRAM Studio's own full dump."""
    prompt, conversation = _prompt(data.get("prompt"), "prompt", ctx)
    if data.get("conversation"):  # a dump keeps the messages beside the rendered prompt
        conversation = _messages(data["conversation"], "conversation", ctx)
    used = {"prompt", "conversation", "response_a", "response_b", "label", "source", "id"}
    used |= {"judgments", "review"}
    judgments = data.get("judgments") or []
    review = data.get("review")
    _check_dump(judgments, review)
    return [
        PairRecord(
            prompt=prompt,
            conversation=conversation,
            response_a=_text(data, "response_a", ctx),
            response_b=_text(data, "response_b", ctx),
            label=_label(data.get("label")),
            source=str(data.get("source") or ctx.source),
            external_id=_external_id(data, "id"),
            meta=_rest(data, used, ctx),
            judgments=judgments,
            review=review,
        )
    ]


def _check_dump(judgments: Any, review: Any) -> None:
    """Reject a dump row whose judgments or review could not be restored."""
    if not isinstance(judgments, list) or not all(isinstance(j, dict) for j in judgments):
        raise RowRejected("judgments", "expected a list of judgment objects")
    if review is not None and not isinstance(review, dict):
        raise RowRejected("review", "expected a review object")
    try:
        restored = [restore_judgment(item) for item in judgments]
    except GramError as error:
        raise RowRejected("judgments", str(error)) from None
    try:
        if review is not None:
            restore_review(review, restored)
    except GramError as error:
        raise RowRejected("review", str(error)) from None


def convert_trl_explicit(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """TRL preference with an explicit prompt, standard (text) or conversational (messages)."""
    prompt, conversation = _prompt(data.get("prompt"), "prompt", ctx)
    chosen, rejected = (_completion(data.get(k), k, ctx) for k in ("chosen", "rejected"))
    used = {"prompt", "chosen", "rejected", "source", "id"}
    return [
        _chosen_rejected_pair(
            prompt,
            conversation,
            chosen,
            rejected,
            source=str(data.get("source") or ctx.source),
            external_id=_external_id(data, "id"),
            meta=_rest(data, used, ctx),
        )
    ]


def _completion(value: Any, key: str, ctx: RowContext) -> str:
    """A TRL completion: text, or a list holding one assistant message."""
    if isinstance(value, list):
        messages = _messages(value, key, ctx)
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            raise RowRejected(key, "a conversational completion must be one assistant message")
        return messages[0]["content"]
    return _text({key: value}, key, ctx)


HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def _hh_turns(transcript: str, key: str) -> list[dict[str, str]]:
    parts = HH_TURN.split("\n\n" + transcript.lstrip("\n"))
    if parts[0].strip():
        raise RowRejected(key, "an HH transcript must start with 'Human:'")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [
        {"role": roles[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)
    ]


def convert_implicit(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """{chosen, rejected} whose shared beginning is the prompt.

    Conversational: lists of messages that share a prefix (TRL's implicit-prompt form).
    Text: Anthropic HH transcripts ('\\n\\nHuman: ...\\n\\nAssistant: ...'), split into turns.
    """
    chosen_raw, rejected_raw = data.get("chosen"), data.get("rejected")
    if isinstance(chosen_raw, list) and isinstance(rejected_raw, list):
        chosen_turns = _messages(chosen_raw, "chosen", ctx)
        rejected_turns = _messages(rejected_raw, "rejected", ctx)
    elif isinstance(chosen_raw, str) and isinstance(rejected_raw, str):
        if "Assistant:" not in chosen_raw or "Human:" not in chosen_raw:
            raise RowRejected(
                "chosen",
                "text without a prompt: expected an HH transcript ('Human: ... Assistant: ...') "
                "or a 'prompt' column",
            )
        chosen_turns = _hh_turns(chosen_raw, "chosen")
        rejected_turns = _hh_turns(rejected_raw, "rejected")
    else:
        raise RowRejected("chosen", "chosen and rejected must both be text or both message lists")
    shared = 0
    while (
        shared < min(len(chosen_turns), len(rejected_turns))
        and chosen_turns[shared] == rejected_turns[shared]
    ):
        shared += 1
    prefix = chosen_turns[:shared]
    for key, turns in (("chosen", chosen_turns), ("rejected", rejected_turns)):
        rest = turns[shared:]
        if len(rest) != 1 or rest[0]["role"] != "assistant":
            raise RowRejected(
                key, "after the shared prompt there must be exactly one assistant turn"
            )
    if not prefix or prefix[-1]["role"] != "user":
        raise RowRejected("chosen", "the shared prompt must end with a user turn")
    for index, message in enumerate(prefix):
        _check_text(f"chosen[{index}]", message["content"], ctx, response=False)
    chosen = _check_text("chosen", chosen_turns[shared]["content"], ctx, response=True)
    rejected = _check_text("rejected", rejected_turns[shared]["content"], ctx, response=True)
    conversation = prefix if len(prefix) > 1 else None
    return [
        _chosen_rejected_pair(
            render_conversation(prefix),
            conversation,
            chosen,
            rejected,
            source=str(data.get("source") or ctx.source),
            external_id=_external_id(data, "id"),
            meta=_rest(data, {"chosen", "rejected", "source", "id"}, ctx),
        )
    ]


def _ranked_pairs(
    prompt: str,
    conversation: list[dict[str, str]] | None,
    candidates: list[tuple[str, float]],
    *,
    source: str,
    external_id: str | None,
    meta: dict[str, Any],
) -> list[PairRecord]:
    """Every pair of N scored responses (higher score is better; equal scores tie)."""
    pairs = []
    for (i, (text_i, score_i)), (j, (text_j, score_j)) in combinations(enumerate(candidates), 2):
        i_first = stable_coin(prompt, text_i, text_j)
        (a, score_a, ia), (b, score_b, ib) = (
            ((text_i, score_i, i), (text_j, score_j, j))
            if i_first
            else ((text_j, score_j, j), (text_i, score_i, i))
        )
        label: Label = "tie" if score_a == score_b else ("A" if score_a > score_b else "B")
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


def convert_ranking(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """{prompt, responses: [...], scores: [...] | ranks: [...]}: expanded into all pairs.

    A response may also be an object {text|content|response, score|rank}. Ranks: 1 is best.
    """
    prompt, conversation = _prompt(data.get("prompt"), "prompt", ctx)
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
            text = _text(item, text_key, ctx)
            value, is_rank = (
                (item.get("score"), False) if "score" in item else (item.get("rank"), True)
            )
        else:
            text = _text({key: item}, key, ctx)
            value, is_rank = (
                (scores[index], False)
                if isinstance(scores, list) and index < len(scores)
                else (ranks[index] if isinstance(ranks, list) and index < len(ranks) else None, True)
            )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise RowRejected(key, "each response needs a numeric score or rank")
        candidates.append((text, -float(value) if is_rank else float(value)))
    return _ranked_pairs(
        prompt,
        conversation,
        candidates,
        source=str(data.get("source") or ctx.source),
        external_id=_external_id(data, "id"),
        meta=_rest(data, {"prompt", "responses", "scores", "ranks", "source", "id"}, ctx),
    )


def convert_bigbench(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """BIG-bench multiple choice ({input, target_scores: {response: score}}), e.g. HHH."""
    prompt = _text(data, "input", ctx, response=False)
    target_scores = data.get("target_scores")
    if not isinstance(target_scores, dict) or len(target_scores) < 2:
        raise RowRejected("target_scores", "expected an object mapping at least two responses to scores")
    candidates = []
    for text, score in target_scores.items():
        if not isinstance(score, int | float):
            raise RowRejected("target_scores", f"score of {text[:30]!r} is not a number")
        candidates.append((_check_text("target_scores", text, ctx, response=True), float(score)))
    return _ranked_pairs(
        prompt,
        None,
        candidates,
        source=ctx.source,
        external_id=_external_id(data, "id"),
        meta=_rest(data, {"input", "target_scores", "id"}, ctx),
    )


def convert_llmbar(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """LLMBar: {input, output_1, output_2, label: 1 | 2}."""
    label = data.get("label")
    if label not in (1, 2, "1", "2", None):
        raise RowRejected("label", f"LLMBar labels are 1 or 2 (got {label!r})")
    return [
        PairRecord(
            prompt=_text(data, "input", ctx, response=False),
            response_a=_text(data, "output_1", ctx),
            response_b=_text(data, "output_2", ctx),
            label=None if label is None else ("A" if str(label) == "1" else "B"),
            source=ctx.source,
            external_id=_external_id(data, "id"),
            meta=_rest(data, {"input", "output_1", "output_2", "label", "id"}, ctx),
        )
    ]


PANDALM_VOTES = {0: "tie", 1: "A", 2: "B"}


def convert_pandalm(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """PandaLM test set: {instruction, input, response1, response2, annotator1..3 (0 tie, 1, 2)}.

    The label is the majority of the annotators' votes (a tie when all three differ).
    """
    # Instruction, then the optional input; one of them may be blank (row 466 has only input).
    parts = [str(data.get(key) or "") for key in ("instruction", "input")]
    prompt = "\n\n".join(part for part in parts if part.strip())
    _check_text("instruction", prompt, ctx, response=False)
    votes = []
    for key in ("annotator1", "annotator2", "annotator3"):
        if key in data:
            if data[key] not in PANDALM_VOTES:
                raise RowRejected(key, f"PandaLM votes are 0, 1 or 2 (got {data[key]!r})")
            votes.append(PANDALM_VOTES[data[key]])
    label: Label | None = None
    if votes:
        top = max(set(votes), key=votes.count)
        label = top if votes.count(top) * 2 > len(votes) else "tie"  # type: ignore[assignment]
    meta = _rest(
        data,
        {"instruction", "input", "response1", "response2", "idx", "annotator1", "annotator2", "annotator3"},
        ctx,
    )
    if votes:
        meta["votes"] = votes
    return [
        PairRecord(
            prompt=prompt,
            response_a=_text(data, "response1", ctx),
            response_b=_text(data, "response2", ctx),
            label=label,
            source=ctx.source,
            external_id=_external_id(data, "idx", "id"),
            meta=meta,
        )
    ]


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
