"""What the Review page shows of one pair and of its queue rows, with blind review applied.

Blind review (a per-person switch) hides the reference label, the model's verdict and rationale
and the queue's agreement columns until the pair has a person's label, so neither anchors them.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import gradio as gr

from app.render import conversation_html, history_rows, markdown_html, pair_header, rationale_diff, verdict_html
from core.evaluation.calibration import Calibration
from core.judge.rationale_checks import rationale_problems
from core.review.pair_view import JudgmentView, PairDetail
from core.review.queue import QUEUE_COLUMNS, QueueRow

log = logging.getLogger(__name__)


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


def damaged(what: str, error: Exception, pair_id: int | None = None) -> str:
    """What is shown in place of a stored record that cannot be shown (the log has the error)."""
    log.error("pair %s: its %s cannot be shown: %r", pair_id, what, error, exc_info=error)
    return markdown_html(
        f"*This pair's {what} cannot be shown: a stored record is damaged (the server log says which).*"
    )


def cannot_show(pair_id: int, error: Exception) -> list[Any]:
    """The pair view's outputs for a pair that cannot be read at all: said so, the page still works."""
    return [damaged("record", error, pair_id), *no_pair()[1:]]


def _judgment_choices(pair: PairDetail) -> list[tuple[str, int]]:
    choices = []
    for v in pair.judgments:
        try:
            choices.append((v.title, v.id))
        except Exception as error:
            log.error("pair %s: judgment %s has a damaged record: %r", pair.pair_id, v.id, error)
            choices.append((f"#{v.id} (damaged record)", v.id))
    return choices


def _verdict(
    j: JudgmentView | None, others: int, images: bool, pair: PairDetail, calibration: Calibration | None
) -> str:
    try:
        problems = []
        if j is not None and (j.rationale or j.explained):
            problems = rationale_problems(j.rationale or j.explained, pair.response_a, pair.response_b, j.label)
        return verdict_html(j, others, images=images, problems=problems, calibration=calibration)
    except Exception as error:
        return damaged("judgment", error, pair.pair_id)


def _history(pair: PairDetail, shown_to: str | None) -> list[list[Any]]:
    """The history table; `shown_to` set (blind review, before their label): only that person's own
    changes, since the others' would show what colleagues chose."""
    entries = [e for e in pair.history if shown_to is None or e.reviewer == shown_to]
    rows = []
    for entry in entries:
        try:
            rows.extend(history_rows(replace(pair, history=[entry])))
        except Exception as error:
            log.error("pair %s: history event %s has a damaged record: %r", pair.pair_id, entry.event_id, error)
            rows.append([entry.event_id, "", "", "", "(damaged record)"])
    return rows


def pair_values(
    pair: PairDetail,
    *,
    blind: bool,
    images: bool,
    judgment_id: int | None = None,
    viewer: str = "",
    calibration: Calibration | None = None,
) -> list[Any]:
    """header, prompt, A, B, verdict, rationale box, diff, tags, note, history, the model's
    rationale, label and judgment id (what an accept takes and a review records as seen), and the
    judgment selector. The judgment shown is `judgment_id`'s, else the latest. A judgment or history
    event that cannot be shown is said to be damaged; the rest of the pair shows."""
    hidden = blind and pair.review_label is None
    j = None if hidden else pair.chosen(judgment_id)
    written = None if j is None else j.rationale or j.explained  # its own, or the one written to explain it
    rationale = pair.review_rationale or ("" if hidden or written is None else written)
    if not isinstance(rationale, str):
        rationale = ""
    choices = [] if hidden else _judgment_choices(pair)
    return [
        pair_header(pair, hide_reference=hidden),
        conversation_html(pair.conversation, images=images)
        if pair.conversation and len(pair.conversation) > 1
        else markdown_html(pair.prompt, images=images),
        markdown_html(pair.response_a, images=images),
        markdown_html(pair.response_b, images=images),
        markdown_html(BLIND_VERDICT) if hidden else _verdict(j, len(pair.judgments) - 1, images, pair, calibration),
        rationale,
        diff_html(written if isinstance(written, str) else None, rationale),
        ", ".join(str(tag) for tag in pair.tags),
        pair.note if isinstance(pair.note, str) else "",
        _history(pair, viewer if hidden else None),
        written if isinstance(written, str) else "",
        j.label if j else None,
        j.id if j else None,
        gr.Dropdown(choices=choices, value=j.id if j else None, interactive=len(choices) > 1),
    ]


def queue_cells(rows: list[QueueRow], *, blind: bool) -> list[list[Any]]:
    """The queue table's rows; blind, a row not yet labelled shows no model or reference columns. A
    row whose stored values cannot be shown says so (and is logged); the others show as ever."""
    table = []
    for row in rows:
        try:
            cells = row.cells()
        except Exception as error:
            log.error("queue: pair %s cannot be shown: %r", row.pair_id, error)
            cells = [row.pair_id, "(damaged record)", *[""] * (len(QUEUE_COLUMNS) - 2)]
        if blind and row.reviewed_label is None:
            cells = ["" if i in BLIND_COLUMNS else cell for i, cell in enumerate(cells)]
        table.append(cells)
    return table
