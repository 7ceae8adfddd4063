"""Converters for published evaluation sets whose files have their own shape: LLMBar, PandaLM, BIG-bench."""

from __future__ import annotations

from typing import Any

from core.data.fields import RowContext, checked_text, external_id, other_columns, ranked_pairs, text_field
from core.data.pair_record import PairRecord, RowRejected
from core.vocab import Label


def convert_bigbench(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """BIG-bench multiple choice ({input, target_scores: {response: score}}), e.g. HHH."""
    prompt = text_field(data, "input", ctx, response=False)
    target_scores = data.get("target_scores")
    if not isinstance(target_scores, dict) or len(target_scores) < 2:
        raise RowRejected("target_scores", "expected an object mapping at least two responses to scores")
    candidates = []
    for text, score in target_scores.items():
        if not isinstance(score, int | float):
            raise RowRejected("target_scores", f"score of {text[:30]!r} is not a number")
        candidates.append((checked_text("target_scores", text, ctx, response=True), float(score)))
    return ranked_pairs(
        prompt,
        None,
        candidates,
        source=ctx.source,
        external_id=external_id(data, "id"),
        meta=other_columns(data, {"input", "target_scores", "id"}, ctx),
    )


def convert_llmbar(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """LLMBar: {input, output_1, output_2, label: 1 | 2}."""
    label = data.get("label")
    if label not in (1, 2, "1", "2", None):
        raise RowRejected("label", f"LLMBar labels are 1 or 2 (got {label!r})")
    return [
        PairRecord(
            prompt=text_field(data, "input", ctx, response=False),
            response_a=text_field(data, "output_1", ctx),
            response_b=text_field(data, "output_2", ctx),
            label=None if label is None else (Label.A if str(label) == "1" else Label.B),
            source=ctx.source,
            external_id=external_id(data, "id"),
            meta=other_columns(data, {"input", "output_1", "output_2", "label", "id"}, ctx),
        )
    ]


PANDALM_VOTES = {0: Label.TIE, 1: Label.A, 2: Label.B}


def convert_pandalm(data: dict[str, Any], ctx: RowContext) -> list[PairRecord]:
    """PandaLM test set: {instruction, input, response1, response2, annotator1..3 (0 tie, 1, 2)}.

    The label is the majority of the annotators' votes (a tie when all three differ).
    """
    # Instruction, then the optional input; one of them may be blank (row 466 has only input).
    parts = [str(data.get(key) or "") for key in ("instruction", "input")]
    prompt = "\n\n".join(part for part in parts if part.strip())
    checked_text("instruction", prompt, ctx, response=False)
    votes = []
    for key in ("annotator1", "annotator2", "annotator3"):
        if key in data:
            if data[key] not in PANDALM_VOTES:
                raise RowRejected(key, f"PandaLM votes are 0, 1 or 2 (got {data[key]!r})")
            votes.append(PANDALM_VOTES[data[key]])
    label: Label | None = None
    if votes:
        top = max(set(votes), key=votes.count)
        label = top if votes.count(top) * 2 > len(votes) else Label.TIE
    meta = other_columns(
        data,
        {"instruction", "input", "response1", "response2", "idx", "annotator1", "annotator2", "annotator3"},
        ctx,
    )
    if votes:
        meta["votes"] = votes
    return [
        PairRecord(
            prompt=prompt,
            response_a=text_field(data, "response1", ctx),
            response_b=text_field(data, "response2", ctx),
            label=label,
            source=ctx.source,
            external_id=external_id(data, "idx", "id"),
            meta=meta,
        )
    ]
