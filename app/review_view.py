"""What the Review page shows of one pair and of its queue rows, with blind review applied.

Blind review (a per-person switch) hides the reference label, the model's verdict and rationale
and the queue's agreement columns until the pair has a person's label, so neither anchors them.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.render import conversation_html, history_rows, markdown_html, pair_header, rationale_diff, verdict_html
from core.review.pair_view import PairDetail
from core.review.queue import QUEUE_COLUMNS, QueueRow


def no_pair() -> list[Any]:
    """The pair view's outputs when no pair is open (in the order of pair_values below)."""
    empty: list[Any] = ["*No pair selected.*", "", "", "", "", "", "", "", "", [], "", None, None]
    return [*empty, gr.Dropdown(choices=[], value=None)]


BLIND_VERDICT = "*Blind review: the model's verdict and rationale show once the pair is labelled.*"
# The queue's columns that would anchor a blind reviewer, by name (core/review/queue.py).
BLIND_COLUMNS = {QUEUE_COLUMNS.index(name) for name in ("model", "confidence", "consistent", "reference", "agrees")}


def diff_html(model: str | None, edited: str | None) -> str:
    diff = rationale_diff(model, edited)
    return markdown_html(diff) if diff else ""


def pair_values(pair: PairDetail, *, blind: bool, images: bool, judgment_id: int | None = None) -> list[Any]:
    """header, prompt, A, B, verdict, rationale box, diff, tags, note, history, the model's
    rationale, label and judgment id (what an accept takes and a review records as seen), and the
    judgment selector. The judgment shown is `judgment_id`'s, else the latest."""
    hidden = blind and pair.review_label is None
    j = None if hidden else pair.chosen(judgment_id)
    rationale = pair.review_rationale or ("" if hidden or j is None else j.rationale or "")
    choices = [] if hidden else [(v.title, v.id) for v in pair.judgments]
    return [
        pair_header(pair, hide_reference=hidden),
        conversation_html(pair.conversation, images=images)
        if pair.conversation and len(pair.conversation) > 1
        else markdown_html(pair.prompt, images=images),
        markdown_html(pair.response_a, images=images),
        markdown_html(pair.response_b, images=images),
        markdown_html(BLIND_VERDICT) if hidden else verdict_html(j, len(pair.judgments) - 1, images=images),
        rationale,
        diff_html(j.rationale if j else None, rationale),
        ", ".join(pair.tags),
        pair.note,
        history_rows(pair),
        (j.rationale if j else None) or "",
        j.label if j else None,
        j.id if j else None,
        gr.Dropdown(choices=choices, value=j.id if j else None, interactive=len(choices) > 1),
    ]


def queue_cells(rows: list[QueueRow], *, blind: bool) -> list[list[Any]]:
    """The queue table's rows; blind, a row not yet labelled shows no model or reference columns."""
    table = []
    for row in rows:
        cells = row.cells()
        if blind and row.reviewed_label is None:
            cells = ["" if i in BLIND_COLUMNS else cell for i, cell in enumerate(cells)]
        table.append(cells)
    return table
