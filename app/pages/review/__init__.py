"""The Review tab: the queue, the pair view, and the review actions with keyboard shortcuts.

Each browser session keeps its own queue position and undo stack in gr.State (core/review/
workflow.py moves them on); the pair comes from core/review/pair_view.py and is shown by
app/render.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gradio as gr

from app.context import StudioContext
from app.handlers import on, reviewer_name
from app.pages.review.assets import SHORTCUTS
from app.pages.review.queue import guidelines_of, queue_column, queue_label
from app.pages.review.view import cannot_show, diff_html, no_pair, pair_values, queue_cells
from app.render import literal
from app.widgets import first_dataset
from core.access.roles import Action
from core.errors import GramError
from core.head.instant import keep_instant, live_figures
from core.review.bulk import accept_reference_labels, tag_all
from core.review.pair_view import pair_detail
from core.review.queue import QueueFilter, progress_key, review_progress, rows_now
from core.review.reviews import review_now
from core.review.workflow import Cursor, QueueState, Saved, neighbour, open_queue, redo_last, review_pair, undo_last
from core.vocab import Label

REFRESH_S = 5  # how often a reviewer's queue rows and open pair are checked for others' changes


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    db = ctx.db
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
            save_rationale = gr.Button("Save rationale (Ctrl+Enter)", elem_id="key-save-rationale")
            diff = gr.HTML(elem_id="rationale-diff")
            with gr.Row():
                tags = gr.Textbox(label="Tags (comma-separated)", elem_id="tags-box")
                note = gr.Textbox(label="Note", elem_id="note-box")
                save_meta = gr.Button("Save tags and note", scale=0)
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

    def instant_figures(name: str, request: gr.Request) -> str:
        """Refit the instant judge if enough new reviews came in (after the next pair is shown),
        and this person's live figures."""
        if not name:
            return ""
        ctx.refit_instant(name)
        with db.session() as session:
            return live_figures(session, name, reviewer_name(request)).markdown(literal)

    def refresh_instant(then: Callable[..., Any], api: str) -> None:
        """Update the instant judge's panel after `then`'s event. "always_last": a review saved while
        the last refresh still runs (a refit waiting for another) gets its own once that one ends;
        Gradio's default ("once") dropped it, and the head and panel stayed reviews behind."""
        on(then, instant_figures, [q.dataset], [q.instant_panel], api_name=f"{api}_instant", trigger_mode="always_last")

    def render(cursor: Cursor, judgment: int | None = None) -> list[Any]:
        return seen(cursor, cursor.pair_id, judgment)[1]

    def seen(cursor: Cursor, pair_id: int | None, judgment: int | None = None) -> tuple[Cursor, list[Any]]:
        """The cursor on the pair as read now (the person's review version, and the stamp of
        everyone's reviews that tells when a colleague changed them) and the pair view's outputs."""
        if pair_id is None:
            return replace(cursor, pair_id=None, version=0, stamp=0), no_pair()
        try:
            with db.session() as session:
                pair = pair_detail(session, pair_id, cursor.reviewer)
            images = ctx.settings.show_remote_images
            outputs = pair_values(pair, blind=cursor.blind, images=images, judgment_id=judgment, viewer=cursor.reviewer)
        except GramError:
            raise
        except Exception as error:  # one damaged pair: said on the page, the queue still works
            return replace(cursor, pair_id=pair_id, version=0, stamp=0), cannot_show(pair_id, error)
        return replace(cursor, pair_id=pair_id, version=pair.version, stamp=pair.stamp), outputs

    def goto(cursor: Cursor, pair_id: int | None, message: str = "") -> list[Any]:
        """Move the cursor to the pair and show it: the cursor, the message and the pair view's outputs."""
        moved, outputs = seen(cursor, pair_id)
        return [moved, message, *outputs]

    def opened(state: QueueState, rows: list[Any], cursor: Cursor) -> list[Any]:
        return [state, queue_cells(rows, blind=cursor.blind), queue_label(state), *goto(cursor, state.start)]

    def load(
        name: str, st: str, so: str, inc: bool, dis: bool, tg: str, text: str, cursor: Cursor, request: gr.Request
    ) -> list[Any]:
        cursor = replace(cursor, reviewer=reviewer_name(request))
        if not name:
            return [QueueState(QueueFilter(""), 0, []), [], "no dataset", cursor, "", *no_pair()]
        f = QueueFilter(name, st, inc, dis, tg or "", text or "", so, reviewer=cursor.reviewer)  # type: ignore[arg-type]
        return opened(*open_queue(db, f, 0), cursor)

    def guides(name: str) -> list[Any]:
        return guidelines_of(ctx, name)

    actions: list[tuple[Any, str]] = []  # events after which the page's queue rows are refreshed (below)

    def action(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: Any, outputs: Any, api: str) -> Any:
        event = on(trigger, fn, inputs, outputs, api_name=api)
        actions.append((event, api))
        return event

    filters = [*q.filters, cursor_state]
    loaded = [queue_state, q.table, q.page_label, cursor_state, message, *pair_outputs]
    for trigger, api in (
        (q.apply.click, "queue"),
        (q.dataset.input, "queue_dataset"),  # .input: a person's choice (not the page load's)
        (q.status.input, "queue_status"),
        (q.sort.input, "queue_order"),
        (q.search.submit, "queue_search"),
    ):
        loading = action(trigger, load, filters, loaded, api)
        refresh_instant(loading.then, api)
        on(loading.then, guides, [q.dataset], [q.guidelines, q.guidelines_box], api_name=f"{api}_guidelines")

    def turn(queue: QueueState, cursor: Cursor, step: int) -> list[Any]:
        state, rows = open_queue(db, queue.filter, queue.page + step)
        if not rows and step:
            state, rows = open_queue(db, queue.filter, queue.page)
        return opened(state, rows, cursor)

    on(q.prev_page.click, lambda q, c: turn(q, c, -1), [queue_state, cursor_state], loaded, api_name="queue_prev_page")
    on(q.next_page.click, lambda q, c: turn(q, c, 1), [queue_state, cursor_state], loaded, api_name="queue_next_page")

    def select_row(queue: QueueState, cursor: Cursor, event: gr.SelectData) -> list[Any]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        pair_id = queue.ids[row] if 0 <= row < len(queue.ids) else cursor.pair_id
        return goto(cursor, pair_id)

    moved = [cursor_state, message, *pair_outputs]
    action(q.table.select, select_row, [queue_state, cursor_state], moved, "queue_select")

    def step_to(queue: QueueState, cursor: Cursor, step: int) -> list[Any]:
        queue, pair_id = neighbour(db, queue, cursor.pair_id, step)
        return [queue, *goto(cursor, pair_id)]

    stepped = [queue_state, *moved]
    for button, step, api in ((prev_pair, -1, "previous_pair"), (next_pair, 1, "next_pair")):
        action(button.click, lambda q, c, s=step: step_to(q, c, s), [queue_state, cursor_state], stepped, api)

    def advance(queue: QueueState, saved: Saved) -> list[Any]:
        """After a label: the next pair, or, when nothing was stored (a conflict), the pair as it is now."""
        if not saved.stored:
            return [queue, *shown(saved)]
        queue, pair_id = neighbour(db, queue, saved.cursor.pair_id, 1)  # auto-advance
        done = " That was the last pair of this queue." if pair_id == saved.cursor.pair_id else ""
        return [queue, *goto(saved.cursor, pair_id, saved.message + done)]

    def labeller(choice: Label | None) -> Callable[..., list[Any]]:
        """A handler that labels the pair (`choice`, or the model's label) and moves to the next."""

        # Gradio passes the request (the logged-in user) to a parameter annotated gr.Request.
        def set_label(
            queue: QueueState, cursor: Cursor, label: str | None, seen: int | None, request: gr.Request
        ) -> list[Any]:
            if choice is None and label is None:
                why = "it is hidden in blind review; choose A, B, tie or skip" if cursor.blind else "it has none here"
                return [queue, cursor, f"No model label to accept: {why}.", *render(cursor)]
            return advance(queue, review_pair(db, cursor, reviewer_name(request), seen, label=choice or label))

        return set_label

    labelled = [queue_state, cursor_state, message, *pair_outputs]
    label_inputs = [queue_state, cursor_state, model_label, judgment_id]

    for button, choice, api in (
        (accept, None, "accept"),
        (label_a, Label.A, "label_a"),
        (label_b, Label.B, "label_b"),
        (label_tie, Label.TIE, "label_tie"),
    ):
        event = action(button.click, labeller(choice), label_inputs, labelled, api)
        refresh_instant(event.then, api)

    def skip_pair(queue: QueueState, cursor: Cursor, why: str, seen: int | None, request: gr.Request) -> list[Any]:
        """Skip the pair as not judgeable (kept out of training and exports), with the reason
        typed beside the button, and move to the next."""
        saved = review_pair(db, cursor, reviewer_name(request), seen, label=Label.SKIP, reason=why.strip())
        return [*advance(queue, saved), "" if saved.stored else gr.skip()]  # the box empties once stored

    for trigger, api in ((skip.click, "skip"), (reason.submit, "skip_with_reason")):
        action(trigger, skip_pair, [queue_state, cursor_state, reason, judgment_id], [*labelled, reason], api)

    def keep(name: str, request: gr.Request) -> str:
        if not name:
            raise GramError("choose a dataset first")
        ctx.team.require(reviewer_name(request), Action.KEEP_INSTANT)
        made = keep_instant(db, ctx.settings, name, ctx.spec())
        return f"Made model version **{literal(made)}** from the instant judge; activate it on the Adapt page."

    on(q.keep_instant.click, keep, [q.dataset], [message], api_name="keep_instant")

    # Bulk actions over the filter in use; accepting reference labels asks to be pressed twice.
    armed = gr.State(None)  # the filter a first press of "accept" was for

    def tag_them(queue: QueueState, tag: str, request: gr.Request) -> str:
        if not queue.filter.dataset:
            raise GramError("choose a dataset first")
        return tag_all(db, queue.filter, reviewer_name(request), tag).summary(f"Tagged {literal(tag.strip())}")

    def accept_them(queue: QueueState, pending: QueueFilter | None, request: gr.Request) -> list[Any]:
        if not queue.filter.dataset:
            raise GramError("choose a dataset first")
        if pending != queue.filter:
            return [
                f"This labels every pair of this filter ({queue.size()}) that you have not labelled with its "
                "reference label, as your review. Press again to do it.",
                queue.filter,
            ]
        done = accept_reference_labels(db, queue.filter, reviewer_name(request))
        return [done.summary("Accepted the reference labels as yours"), None]

    action(q.bulk_tag_apply.click, tag_them, [queue_state, q.bulk_tag], [message], "bulk_tag")
    action(q.bulk_accept.click, accept_them, [queue_state, armed], [message, armed], "bulk_accept")

    def shown(saved: Saved) -> list[Any]:
        cursor, outputs = seen(saved.cursor, saved.cursor.pair_id)
        return [cursor, saved.message, *outputs]

    def save_text(cursor: Cursor, text: str, seen: int | None, request: gr.Request) -> list[Any]:
        return shown(review_pair(db, cursor, reviewer_name(request), seen, rationale=text.strip() or None))

    action(save_rationale.click, save_text, [cursor_state, rationale, judgment_id], moved, "save_rationale")
    on(
        rationale.change,
        diff_html,
        [model_rationale, rationale],
        diff,
        api_name="rationale_diff",
    )

    def save_tags(cursor: Cursor, tag_text: str, note_text: str, seen: int | None, request: gr.Request) -> list[Any]:
        tag_list = [t.strip() for t in tag_text.split(",") if t.strip()]
        return shown(review_pair(db, cursor, reviewer_name(request), seen, tags=tag_list, note=note_text))

    action(save_meta.click, save_tags, [cursor_state, tags, note, judgment_id], moved, "save_tags")

    def undo_click(cursor: Cursor, request: gr.Request) -> list[Any]:
        return shown(undo_last(db, cursor, reviewer_name(request)))

    def redo_click(cursor: Cursor, request: gr.Request) -> list[Any]:
        return shown(redo_last(db, cursor, reviewer_name(request)))

    action(undo_button.click, undo_click, [cursor_state], moved, "undo")
    action(redo_button.click, redo_click, [cursor_state], moved, "redo")

    def open_studio(
        st: str, so: str, inc: bool, dis: bool, tg: str, text: str, cursor: Cursor, blind_on: bool, request: gr.Request
    ) -> list[Any]:
        chooser, cursor = first_dataset(ctx), replace(cursor, blind=bool(blind_on))
        return [chooser, bool(blind_on), *load(chooser["value"] or "", st, so, inc, dis, tg, text, cursor, request)]

    opening = action(
        studio.load, open_studio, [*filters[1:], q.blind_saved], [q.dataset, q.blind, *loaded], "open_studio"
    )
    refresh_instant(opening.then, "open_studio")
    on(opening.then, guides, [q.dataset], [q.guidelines, q.guidelines_box], api_name="open_studio_guidelines")

    def choose_judgment(cursor: Cursor, chosen: int | None) -> list[Any]:
        """Show another of the pair's judgments (what an accept then takes)."""
        return render(cursor, chosen)

    on(judgment_choice.input, choose_judgment, [cursor_state, judgment_choice], pair_outputs, api_name="judgment")

    def switch_blind(on_: bool, queue: QueueState, cursor: Cursor) -> list[Any]:
        """Blind review on or off: the pair and the queue shown again, the choice kept in the browser."""
        cursor, outputs = seen(replace(cursor, blind=on_), cursor.pair_id)
        return [on_, cursor, rows_of(queue, on_), *outputs]

    on(
        q.blind.input,
        switch_blind,
        [q.blind, queue_state, cursor_state],
        [q.blind_saved, cursor_state, q.table, *pair_outputs],
        api_name="blind_review",
    )

    def rows_of(queue: QueueState, blind: bool) -> list[list[Any]]:
        if not queue.ids:
            return []
        with db.session() as session:
            rows = rows_now(session, queue.filter.dataset, queue.ids, queue.filter.reviewer)
        return queue_cells(rows, blind=blind)

    def refresh(
        queue: QueueState, cursor: Cursor, pushed: list[list[Any]], counted: Any, request: gr.Request
    ) -> list[Any]:
        """The page's rows as they are now (only when they changed: a redraw would reset the
        table's scroll), the dataset's progress (counted again only when a review changed), and
        a notice when the open pair changed since this person saw it."""
        rows = rows_of(queue, cursor.blind)
        notice = ""
        if cursor.pair_id is not None:
            with db.session() as session:
                now = review_now(session, cursor.pair_id)
            if now.stamp != cursor.stamp:
                who = "you in another window" if now.reviewer == cursor.reviewer else now.reviewer or "someone"
                label = "" if cursor.blind else f" (their label: {now.label or 'none'})"
                notice = (
                    f"⚠ Pair {cursor.pair_id} was changed by {literal(who)}{literal(label)} since you opened it; "
                    "select it in the queue to see it."
                )
        if not queue.filter.dataset:
            return [rows if rows != pushed else gr.skip(), rows, "", notice, None]
        with db.session() as session:
            key = progress_key(session, queue.filter.dataset)
            if key == counted:
                return [rows if rows != pushed else gr.skip(), rows, gr.skip(), notice, counted]
            done = review_progress(session, queue.filter.dataset, reviewer_name(request))
        line = f"**{done.line(literal(reviewer_name(request)))}**"
        return [rows if rows != pushed else gr.skip(), rows, line, notice, key]

    counted_at = gr.State(None)  # progress_key when the progress line was last counted
    refreshed = [q.table, pushed_rows, progress, changed, counted_at]
    refresh_inputs = [queue_state, cursor_state, pushed_rows, counted_at]
    for event, api in actions:
        on(event.then, refresh, refresh_inputs, refreshed, api_name=f"{api}_refresh", show_progress="hidden")
    on(refresh_timer.tick, refresh, refresh_inputs, refreshed, api_name="review_refresh", show_progress="hidden")
