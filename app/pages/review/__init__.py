"""The Review tab: the queue, the pair view, and the review actions with keyboard shortcuts.

`build` lays the page out and wires its events to the plain handlers of handlers.py. Each
browser session keeps its own queue position and undo stack in gr.State (core/review/workflow.py
moves them on); the pair comes from core/review/pair_view.py and is shown by app/render.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from app.context import StudioContext
from app.handlers import bound, on
from app.pages.review import handlers
from app.pages.review.assets import SHORTCUTS
from app.pages.review.queue import queue_column
from app.pages.review.view import diff_html
from app.pages.review.why import which_words
from app.widgets import remembered
from core.review.queue import QueueFilter
from core.review.workflow import Cursor, QueueState
from core.vocab import Label

REFRESH_S = 5  # how often a reviewer's queue rows and open pair are checked for others' changes


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    queue_state = gr.State(QueueState(QueueFilter(""), 0, []))
    cursor_state = gr.State(Cursor())
    pushed_rows = gr.State([])  # the queue rows the refresh last showed
    refresh_timer = gr.Timer(REFRESH_S)
    # One screen per pair (app/pages/review/assets.py): the queue in a column beside the pair.
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320, elem_id="review-queue"):
            q = queue_column(ctx)
        with gr.Column(scale=5, elem_id="review-main"):
            with gr.Row(equal_height=False):
                progress = gr.Markdown(elem_id="review-progress", min_width=300)
                # Every judgment of the pair (model, protocol, orders, votes, when); the latest first.
                judgment_choice = gr.Dropdown(
                    choices=[], show_label=False, container=False, elem_id="judgment-select", scale=3
                )
                message = gr.Markdown(elem_id="review-message")
                changed = gr.Markdown(elem_id="pair-changed")  # someone else changed the open pair
            # The pair and the verdict are HTML rendered on the server from untrusted Markdown (app/render.py).
            header = gr.HTML(elem_id="pair-header")
            prompt = gr.HTML(elem_id="pair-prompt", label="Prompt", show_label=True, container=True, max_height=130)
            with gr.Row(equal_height=False):
                response_a, response_b = (
                    gr.HTML(
                        elem_id=f"response-{s}",
                        label=f"Response {s.upper()}",
                        show_label=True,
                        container=True,
                        max_height=190,
                    )
                    for s in "ab"
                )
            verdict = gr.HTML(elem_id="pair-verdict", container=True, max_height=150)
            with gr.Row(elem_id="review-actions"):
                accept = gr.Button("Accept (Enter)", elem_id="key-accept", variant="primary", size="sm")
                label_a = gr.Button("A better (a)", elem_id="key-a", size="sm")
                label_b = gr.Button("B better (b)", elem_id="key-b", size="sm")
                label_tie = gr.Button("Tie (t)", elem_id="key-tie", size="sm")
                skip = gr.Button("Skip (s)", elem_id="key-skip", size="sm")
                reason = gr.Textbox(
                    placeholder="why skip? (Enter skips)",
                    show_label=False,
                    container=False,
                    min_width=120,
                    max_lines=1,
                    elem_id="skip-reason",
                )
                undo_button = gr.Button("Undo (z)", elem_id="key-undo", size="sm")
                redo_button = gr.Button("Redo (y)", elem_id="key-redo", size="sm")
                prev_pair = gr.Button("◀ Previous (k)", elem_id="key-prev", size="sm")
                next_pair = gr.Button("Next (j) ▶", elem_id="key-next", size="sm")
            rationale = gr.Textbox(label="Rationale (e to edit, Ctrl+Enter to save)", lines=6, elem_id="rationale-box")
            # Kept by the page's script (assets.py): "seen" while the rationale box is on screen.
            rationale_on_screen = gr.Textbox(
                "", elem_id="rationale-seen", elem_classes=["gram-hidden"], show_label=False
            )
            with gr.Row():
                save_rationale = gr.Button("Save rationale (Ctrl+Enter)", elem_id="key-save-rationale")
                # For a verdict without reasons (a head, the fast path): the base model writes one for its label.
                explain = gr.Button("Explain this verdict", elem_id="explain-verdict")
                # A head's verdict split exactly over the words of A and B.
                words = gr.Button("Which words pushed it (a head)", elem_id="head-words")
            why = gr.HTML(elem_id="head-why")
            diff = gr.HTML(elem_id="rationale-diff")
            with gr.Row():
                tags = gr.Textbox(label="Tags (comma-separated)", elem_id="tags-box")
                note = gr.Textbox(label="Note", elem_id="note-box")
                save_meta = gr.Button("Save tags and note (Ctrl+Enter)", scale=0, elem_id="key-save-meta")
            history_table = gr.Dataframe(
                headers=["event", "when", "who", "action", "change"],
                interactive=False,
                label="History",
                elem_id="pair-history",
            )
            gr.Markdown(SHORTCUTS)
    model_rationale = gr.State("")
    model_label = gr.State(None)
    judgment_id = gr.State(None)  # the judgment the person sees, recorded with their review

    pair_outputs = [
        header,
        prompt,
        response_a,
        response_b,
        verdict,
        rationale,
        diff,
        tags,
        note,
        history_table,
        model_rationale,
        model_label,
        judgment_id,
        judgment_choice,
    ]

    def wire(
        trigger: Callable[..., Any], fn: Callable[..., Any], inputs: Any, outputs: Any, api: str, **fixed: Any
    ) -> Any:
        return on(trigger, bound(ctx, fn, **fixed), inputs, outputs, api_name=api)

    def refresh_instant(then: Callable[..., Any], api: str) -> None:
        """Update the instant judge's panel after `then`'s event. "always_last": a review saved while
        the last refresh still runs (a refit waiting for another) gets its own once that one ends;
        Gradio's default ("once") dropped it, and the head and panel stayed reviews behind."""
        figures = bound(ctx, handlers.instant_figures)
        on(then, figures, [q.dataset], [q.instant_panel], api_name=f"{api}_instant", trigger_mode="always_last")

    def show_guidelines(then: Callable[..., Any], api: str) -> None:
        wire(then, handlers.guides, [q.dataset], [q.guidelines, q.guidelines_box], f"{api}_guidelines")

    actions: list[tuple[Any, str]] = []  # events after which the page's queue rows are refreshed (below)

    def action(
        trigger: Callable[..., Any], fn: Callable[..., Any], inputs: Any, outputs: Any, api: str, **fixed: Any
    ) -> Any:
        event = wire(trigger, fn, inputs, outputs, api, **fixed)
        actions.append((event, api))
        return event

    filters = [*q.filters, cursor_state]
    moved = [cursor_state, message, *pair_outputs]
    loaded = [queue_state, q.table, q.page_label, *moved]
    for trigger, api in (
        (q.apply.click, "queue"),
        (q.dataset.input, "queue_dataset"),  # .input: a person's choice (not the page load's)
        (q.status.input, "queue_status"),
        (q.sort.input, "queue_order"),
        (q.search.submit, "queue_search"),
    ):
        loading = action(trigger, handlers.load_queue, filters, loaded, api)
        refresh_instant(loading.then, api)
        show_guidelines(loading.then, api)
    last_dataset = remembered("review-dataset")
    opening = action(
        studio.load,
        handlers.open_studio,
        [*filters[1:], q.blind_saved, last_dataset],
        [q.dataset, q.blind, *loaded],
        "open_studio",
    )
    on(q.dataset.input, lambda name: name or "", q.dataset, last_dataset, api_name="review_dataset_remember")
    refresh_instant(opening.then, "open_studio")
    show_guidelines(opening.then, "open_studio")

    paging = [queue_state, cursor_state]
    wire(q.prev_page.click, handlers.turn_page, paging, loaded, "queue_prev_page", step=-1)
    wire(q.next_page.click, handlers.turn_page, paging, loaded, "queue_next_page", step=1)
    action(q.table.select, handlers.select_row, paging, moved, "queue_select")
    stepped = [queue_state, *moved]
    action(prev_pair.click, handlers.step_to, paging, stepped, "previous_pair", step=-1)
    action(next_pair.click, handlers.step_to, paging, stepped, "next_pair", step=1)

    label_inputs = [queue_state, cursor_state, model_label, judgment_id, rationale_on_screen]
    for button, choice, api in (
        (accept, None, "accept"),
        (label_a, Label.A, "label_a"),
        (label_b, Label.B, "label_b"),
        (label_tie, Label.TIE, "label_tie"),
    ):
        event = action(button.click, handlers.set_label, label_inputs, stepped, api, choice=choice)
        refresh_instant(event.then, api)
    for trigger, api in ((skip.click, "skip"), (reason.submit, "skip_with_reason")):
        skipping = [queue_state, cursor_state, reason, judgment_id]
        action(trigger, handlers.skip_pair, skipping, [*stepped, reason], api)

    wire(q.keep_instant.click, handlers.keep, [q.dataset], [message], "keep_instant")
    # Bulk actions over the filter in use; accepting reference labels asks to be pressed twice.
    armed = gr.State(None)  # the filter a first press of "accept" was for
    action(q.bulk_tag_apply.click, handlers.tag_them, [queue_state, q.bulk_tag], [message], "bulk_tag")
    action(q.bulk_accept.click, handlers.accept_them, [queue_state, armed], [message, armed], "bulk_accept")

    action(
        save_rationale.click, handlers.save_rationale, [cursor_state, rationale, judgment_id], moved, "save_rationale"
    )
    on(rationale.change, diff_html, [model_rationale, rationale], diff, api_name="rationale_diff")
    wire(explain.click, handlers.explain, [cursor_state, judgment_id], moved, "explain")
    wire(words.click, which_words, [cursor_state, judgment_id], why, "head_words")
    on(header.change, lambda: "", None, why, api_name="head_words_clear")  # another pair: not its words
    action(save_meta.click, handlers.save_tags, [cursor_state, tags, note, judgment_id], moved, "save_tags")
    action(undo_button.click, handlers.undo, [cursor_state], moved, "undo")
    action(redo_button.click, handlers.redo, [cursor_state], moved, "redo")

    wire(judgment_choice.input, handlers.choose_judgment, [cursor_state, judgment_choice], pair_outputs, "judgment")
    blind_outputs = [q.blind_saved, cursor_state, q.table, *pair_outputs]
    wire(q.blind.input, handlers.switch_blind, [q.blind, queue_state, cursor_state], blind_outputs, "blind_review")

    counted_at = gr.State(None)  # progress_key when the progress line was last counted
    refreshed = [q.table, pushed_rows, progress, changed, counted_at]
    refresh_inputs = [queue_state, cursor_state, pushed_rows, counted_at]
    refresh = bound(ctx, handlers.refresh)
    for event, api in actions:
        on(event.then, refresh, refresh_inputs, refreshed, api_name=f"{api}_refresh", show_progress="hidden")
    on(refresh_timer.tick, refresh, refresh_inputs, refreshed, api_name="review_refresh", show_progress="hidden")
