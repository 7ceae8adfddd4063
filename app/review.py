"""The review page: the queue, the pair view, and the review actions with keyboard shortcuts.

Handlers are plain functions over the store (the benchmark and tests call them directly); the
Gradio wiring is in `build_review_tab`. Each browser session keeps its own queue position and
undo stack in gr.State. Saves name the review version they started from, so two people editing
one pair never silently overwrite each other (the second is told and shown the new state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import gradio as gr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.render import rationale_diff, safe_markdown
from core.errors import ConflictError, GramError
from core.queue import QUEUE_COLUMNS, QueueFilter, queue_page
from core.reviews import history, redo, save_review, undo
from storage.database import Database
from storage.models import Judgment, Pair, Review

PAGE_SIZE = 25
SHORTCUTS = "Keys: **a** / **b** / **t** label A, B, tie · **Enter** accept the model's label · **e** edit the rationale " \
            "(**Ctrl+Enter** saves) · **z** undo · **y** redo · **j** / **k** next / previous pair"

# Keyboard shortcuts: each key clicks a button by its element id; typing in a text box is left alone.
KEYBOARD_JS = """
<script>
document.addEventListener('keydown', (event) => {
  const target = event.target;
  const typing = target && (target.tagName === 'TEXTAREA' || target.tagName === 'INPUT');
  const click = (id) => { const el = document.getElementById(id); if (el) { event.preventDefault(); el.click(); } };
  if (typing) {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && target.closest('#rationale-box')) click('key-save-rationale');
    if (event.key === 'Escape') target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const keys = {a: 'key-a', b: 'key-b', t: 'key-tie', Enter: 'key-accept', z: 'key-undo', y: 'key-redo',
                j: 'key-next', k: 'key-prev'};
  if (event.key === 'e') {
    const box = document.querySelector('#rationale-box textarea');
    if (box) { event.preventDefault(); box.focus(); }
    return;
  }
  if (keys[event.key]) click(keys[event.key]);
});
</script>
"""


@dataclass(frozen=True)
class QueueState:
    filter: QueueFilter
    page: int
    ids: list[int]  # the page's pair ids, in queue order
    total: int = 0


@dataclass(frozen=True)
class Cursor:
    """Where this browser session is: the pair shown, the review version it saw, its undo stacks."""

    pair_id: int | None = None
    version: int = 0
    done: list[int] = field(default_factory=list)  # pairs this session changed, latest last
    undone: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PairView:
    pair_id: int
    header: str
    prompt: str
    response_a: str
    response_b: str
    verdict: str
    rationale_text: str  # the editable rationale: the person's, else the model's
    model_rationale: str | None
    model_label: str | None
    judgment_id: int | None
    tags: str
    note: str
    version: int
    history: list[list[Any]]


def open_queue(db: Database, f: QueueFilter, page: int) -> tuple[QueueState, list[list[Any]], str]:
    with db.session() as session:
        rows, total = queue_page(session, f, max(page, 0), PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    state = QueueState(f, max(page, 0), [r.pair_id for r in rows], total)
    return state, [r.cells() for r in rows], f"**{f.dataset}** · page {state.page + 1} of {pages} · {total} pairs"


def _verdict(judgments: list[Judgment]) -> str:
    if not judgments:
        return "*Not judged yet.*"
    j = judgments[-1]
    lines = [
        f"**Model:** {j.model} ({j.protocol}) · **label {j.label or '?'}** · confidence "
        f"{'' if j.confidence is None else f'{j.confidence:.3f}'} · P(A) {'' if j.prob_a is None else f'{j.prob_a:.3f}'}"
    ]
    if j.consistent is not None:
        lines.append("**Both orders agree.**" if j.consistent else "**Position-inconsistent:** the two orders disagree.")
    for order in j.orders or []:
        lines.append(f"- order {order.get('order')}: label {order.get('label')}, P(A) {order.get('prob_a', 0):.3f}")
    if j.votes:
        v = j.votes
        shown = f"votes A {v.get('A', 0)} · B {v.get('B', 0)} · invalid {v.get('invalid', 0)} of {v.get('k', '?')}"
        if j.origin == "selftrain":
            fate = "kept" if v.get("kept") else f"dropped ({v.get('dropped_by')})"
            lines.append(f"**Self-training pseudo-label** (iteration {v.get('iteration')}): {shown}; {fate}")
        else:
            lines.append(shown)
    if j.parse_error:
        lines.append(f"*Note: {safe_markdown(j.parse_error)}*")
    lines.append("\n**Rationale**\n\n" + safe_markdown(j.rationale or "(none)"))
    if len(judgments) > 1:
        lines.append(f"\n*{len(judgments) - 1} earlier judgment(s) of this pair.*")
    return "\n\n".join(lines)


def show_pair(db: Database, pair_id: int) -> PairView:
    with db.session() as session:
        pair = session.scalar(
            select(Pair).where(Pair.id == pair_id).options(selectinload(Pair.judgments), selectinload(Pair.review))
        )
        if pair is None:
            raise GramError(f"no pair with id {pair_id}")
        judgments = sorted(pair.judgments, key=lambda j: j.id)
        latest = judgments[-1] if judgments else None
        review: Review | None = pair.review
        events = history(session, pair_id)
        reviewed = f"reviewed **{review.label}** by {review.reviewer}" if review and review.label else "not reviewed"
        header = (f"### Pair {pair.id} · {safe_markdown(pair.source)}\nreference label: **{pair.reference_label or '-'}**"
                  f" · {reviewed}")
        return PairView(
            pair_id=pair.id,
            header=header,
            prompt=safe_markdown(pair.prompt),
            response_a=safe_markdown(pair.response_a),
            response_b=safe_markdown(pair.response_b),
            verdict=_verdict(judgments),
            rationale_text=(review.rationale if review and review.rationale else (latest.rationale if latest else "")) or "",
            model_rationale=latest.rationale if latest else None,
            model_label=latest.label if latest else None,
            judgment_id=latest.id if latest else None,
            tags=", ".join(review.tags) if review else "",
            note=review.note if review else "",
            version=review.version if review else 0,
            history=[[e.id, f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.reviewer, e.action,
                      _change(e.before, e.after)] for e in events],
        )


def _change(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = [k for k in after if before.get(k) != after.get(k)]
    return "; ".join(f"{k}: {str(before.get(k))[:30]!r} → {str(after.get(k))[:30]!r}" for k in changed)


def review_pair(db: Database, cursor: Cursor, reviewer: str, **changes: Any) -> tuple[Cursor, str]:
    """Save changes on the cursor's pair; returns the new cursor and a message."""
    if cursor.pair_id is None:
        return cursor, "Open a pair first."
    view = show_pair(db, cursor.pair_id)
    with db.session() as session:
        try:
            review = save_review(session, cursor.pair_id, reviewer=reviewer, expected_version=cursor.version,
                                 judgment_id=view.judgment_id, **changes)
        except ConflictError as conflict:
            return replace(cursor, version=view.version), f"⚠ {conflict} — shown now; your change was not saved."
        version = review.version
    done = [*cursor.done, cursor.pair_id] if version != cursor.version else cursor.done
    return replace(cursor, version=version, done=done, undone=[]), f"Saved pair {cursor.pair_id}."


def undo_last(db: Database, cursor: Cursor, reviewer: str) -> tuple[Cursor, str]:
    if not cursor.done:
        return cursor, "Nothing to undo."
    pair_id = cursor.done[-1]
    with db.session() as session:
        try:
            review = undo(session, pair_id, reviewer=reviewer)
        except GramError as error:
            return cursor, str(error)
        version = review.version
    return Cursor(pair_id, version, cursor.done[:-1], [*cursor.undone, pair_id]), f"Undid the last change on pair {pair_id}."


def redo_last(db: Database, cursor: Cursor, reviewer: str) -> tuple[Cursor, str]:
    if not cursor.undone:
        return cursor, "Nothing to redo."
    pair_id = cursor.undone[-1]
    with db.session() as session:
        try:
            review = redo(session, pair_id, reviewer=reviewer)
        except GramError as error:
            return cursor, str(error)
        version = review.version
    return Cursor(pair_id, version, [*cursor.done, pair_id], cursor.undone[:-1]), f"Redid the change on pair {pair_id}."


def neighbour(db: Database, queue: QueueState, pair_id: int | None, step: int) -> tuple[QueueState, int | None]:
    """The pair `step` places from `pair_id` in the queue, turning the page when needed."""
    if not queue.ids:
        return queue, None
    index = queue.ids.index(pair_id) + step if pair_id in queue.ids else 0
    if 0 <= index < len(queue.ids):
        return queue, queue.ids[index]
    page = queue.page + (1 if index >= len(queue.ids) else -1)
    if page < 0 or page * PAGE_SIZE >= queue.total:
        return queue, pair_id
    turned, _, _ = open_queue(db, queue.filter, page)
    return turned, (turned.ids[0] if step > 0 else turned.ids[-1]) if turned.ids else pair_id


def reviewer_name(request: gr.Request | None) -> str:
    """The logged-in user (with --auth), else 'local'."""
    return (getattr(request, "username", None) or "local") if request is not None else "local"


def build_review_tab(studio: gr.Blocks, db: Database, dataset_names: Callable[[], list[str]]) -> None:
    """The Review tab's components and events (call inside a gr.Blocks / gr.Tab)."""
    names = dataset_names()
    first = names[0] if names else ""
    queue_state = gr.State(QueueState(QueueFilter(first), 0, []))
    cursor_state = gr.State(Cursor())
    with gr.Row():
        dataset = gr.Dropdown(choices=names, value=first or None, label="Dataset", scale=2, elem_id="review-dataset")
        dataset.focus(lambda: gr.update(choices=dataset_names()), outputs=dataset)
        status = gr.Radio(["all", "unjudged", "judged", "reviewed"], value="all", label="Status", scale=3)
        sort = gr.Dropdown([("pair id", "id"), ("lowest confidence first", "confidence-asc"),
                            ("highest confidence first", "confidence-desc")], value="id", label="Order", scale=2)
    with gr.Row():
        inconsistent = gr.Checkbox(label="position-inconsistent only")
        disagreeing = gr.Checkbox(label="disagrees with the reference")
        tag = gr.Textbox(label="has tag", scale=1)
        search = gr.Textbox(label="text search", scale=2)
        apply = gr.Button("Show", elem_id="queue-apply", scale=0)
    with gr.Row():
        prev_page = gr.Button("◀ page", scale=0)
        page_label = gr.Markdown(elem_id="queue-page")
        next_page = gr.Button("page ▶", scale=0)
    table = gr.Dataframe(headers=QUEUE_COLUMNS, interactive=False, wrap=False, max_height=320, elem_id="queue-table")

    gr.Markdown(SHORTCUTS)
    message = gr.Markdown(elem_id="review-message")
    header = gr.Markdown(elem_id="pair-header")
    prompt = gr.Markdown(elem_id="pair-prompt", label="Prompt", container=True)
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("**Response A**")
            response_a = gr.Markdown(elem_id="response-a", container=True)
        with gr.Column():
            gr.Markdown("**Response B**")
            response_b = gr.Markdown(elem_id="response-b", container=True)
    verdict = gr.Markdown(elem_id="pair-verdict", container=True)
    with gr.Row():
        accept = gr.Button("Accept (Enter)", elem_id="key-accept", variant="primary")
        label_a = gr.Button("A better (a)", elem_id="key-a")
        label_b = gr.Button("B better (b)", elem_id="key-b")
        label_tie = gr.Button("Tie (t)", elem_id="key-tie")
        undo_button = gr.Button("Undo (z)", elem_id="key-undo")
        redo_button = gr.Button("Redo (y)", elem_id="key-redo")
        prev_pair = gr.Button("◀ Previous (k)", elem_id="key-prev")
        next_pair = gr.Button("Next (j) ▶", elem_id="key-next")
    rationale = gr.Textbox(label="Rationale (e to edit, Ctrl+Enter to save)", lines=6, elem_id="rationale-box")
    save_rationale = gr.Button("Save rationale (Ctrl+Enter)", elem_id="key-save-rationale")
    diff = gr.Markdown(elem_id="rationale-diff")
    with gr.Row():
        tags = gr.Textbox(label="Tags (comma-separated)", elem_id="tags-box")
        note = gr.Textbox(label="Note", elem_id="note-box")
        save_meta = gr.Button("Save tags and note", scale=0)
    history_table = gr.Dataframe(headers=["event", "when", "who", "action", "change"], interactive=False,
                                 label="History", elem_id="pair-history")
    model_rationale = gr.State("")
    model_label = gr.State(None)

    pair_outputs = [header, prompt, response_a, response_b, verdict, rationale, diff, tags, note, history_table,
                    model_rationale, model_label]

    def render(pair_id: int | None) -> list[Any]:
        if pair_id is None:
            return ["*No pair selected.*", "", "", "", "", "", "", "", "", [], "", None]
        view = show_pair(db, pair_id)
        return [view.header, view.prompt, view.response_a, view.response_b, view.verdict, view.rationale_text,
                rationale_diff(view.model_rationale, view.rationale_text), view.tags, view.note, view.history,
                view.model_rationale or "", view.model_label]

    def goto(cursor: Cursor, pair_id: int | None) -> Cursor:
        version = show_pair(db, pair_id).version if pair_id is not None else 0
        return replace(cursor, pair_id=pair_id, version=version)

    def load(name: str, st: str, so: str, inc: bool, dis: bool, tg: str, q: str, cursor: Cursor) -> list[Any]:
        if not name:
            return [QueueState(QueueFilter(""), 0, []), [], "no dataset", cursor, "", *render(None)]
        f = QueueFilter(name, st, inc, dis, tg or "", q or "", so)  # type: ignore[arg-type]
        state, rows, label = open_queue(db, f, 0)
        pair_id = state.ids[0] if state.ids else None
        return [state, rows, label, goto(cursor, pair_id), "", *render(pair_id)]

    filters = [dataset, status, sort, inconsistent, disagreeing, tag, search, cursor_state]
    loaded = [queue_state, table, page_label, cursor_state, message, *pair_outputs]
    apply.click(load, filters, loaded)
    dataset.change(load, filters, loaded)
    search.submit(load, filters, loaded)

    def turn(queue: QueueState, cursor: Cursor, step: int) -> list[Any]:
        state, rows, label = open_queue(db, queue.filter, queue.page + step)
        if not rows and step:
            state, rows, label = open_queue(db, queue.filter, queue.page)
        pair_id = state.ids[0] if state.ids else None
        return [state, rows, label, goto(cursor, pair_id), "", *render(pair_id)]

    prev_page.click(lambda q, c: turn(q, c, -1), [queue_state, cursor_state], loaded)
    next_page.click(lambda q, c: turn(q, c, 1), [queue_state, cursor_state], loaded)

    def select_row(queue: QueueState, cursor: Cursor, event: gr.SelectData) -> list[Any]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        pair_id = queue.ids[row] if 0 <= row < len(queue.ids) else cursor.pair_id
        return [goto(cursor, pair_id), "", *render(pair_id)]

    moved = [cursor_state, message, *pair_outputs]
    table.select(select_row, [queue_state, cursor_state], moved)

    def step_to(queue: QueueState, cursor: Cursor, step: int) -> list[Any]:
        queue, pair_id = neighbour(db, queue, cursor.pair_id, step)
        return [queue, goto(cursor, pair_id), "", *render(pair_id)]

    stepped = [queue_state, *moved]
    prev_pair.click(lambda q, c: step_to(q, c, -1), [queue_state, cursor_state], stepped)
    next_pair.click(lambda q, c: step_to(q, c, 1), [queue_state, cursor_state], stepped)

    def set_label(choice: str | None, queue: QueueState, cursor: Cursor, label: str | None, request: gr.Request) -> list[Any]:
        if choice is None and label is None:
            return [queue, cursor, "The model has no label to accept here.", *render(cursor.pair_id)]
        cursor, note_text = review_pair(db, cursor, reviewer_name(request), label=choice or label)
        if note_text.startswith("⚠"):
            return [queue, cursor, note_text, *render(cursor.pair_id)]
        queue, pair_id = neighbour(db, queue, cursor.pair_id, 1)  # auto-advance
        return [queue, goto(cursor, pair_id), note_text, *render(pair_id)]

    labelled = [queue_state, cursor_state, message, *pair_outputs]
    label_inputs = [queue_state, cursor_state, model_label]

    # Gradio passes the request (the logged-in user) to parameters annotated gr.Request.
    def accept_label(q: QueueState, c: Cursor, m: str | None, request: gr.Request) -> list[Any]:
        return set_label(None, q, c, m, request)

    def choose_a(q: QueueState, c: Cursor, m: str | None, request: gr.Request) -> list[Any]:
        return set_label("A", q, c, m, request)

    def choose_b(q: QueueState, c: Cursor, m: str | None, request: gr.Request) -> list[Any]:
        return set_label("B", q, c, m, request)

    def choose_tie(q: QueueState, c: Cursor, m: str | None, request: gr.Request) -> list[Any]:
        return set_label("tie", q, c, m, request)

    accept.click(accept_label, label_inputs, labelled)
    label_a.click(choose_a, label_inputs, labelled)
    label_b.click(choose_b, label_inputs, labelled)
    label_tie.click(choose_tie, label_inputs, labelled)

    def save_text(cursor: Cursor, text: str, request: gr.Request) -> list[Any]:
        cursor, note_text = review_pair(db, cursor, reviewer_name(request), rationale=text.strip() or None)
        return [cursor, note_text, *render(cursor.pair_id)]

    save_rationale.click(save_text, [cursor_state, rationale], moved)
    rationale.change(lambda old, new: rationale_diff(old, new), [model_rationale, rationale], diff)

    def save_tags(cursor: Cursor, tag_text: str, note_text: str, request: gr.Request) -> list[Any]:
        tag_list = [t.strip() for t in tag_text.split(",") if t.strip()]
        cursor, said = review_pair(db, cursor, reviewer_name(request), tags=tag_list, note=note_text)
        return [cursor, said, *render(cursor.pair_id)]

    save_meta.click(save_tags, [cursor_state, tags, note], moved)

    def undo_click(cursor: Cursor, request: gr.Request) -> list[Any]:
        cursor, said = undo_last(db, cursor, reviewer_name(request))
        return [cursor, said, *render(cursor.pair_id)]

    def redo_click(cursor: Cursor, request: gr.Request) -> list[Any]:
        cursor, said = redo_last(db, cursor, reviewer_name(request))
        return [cursor, said, *render(cursor.pair_id)]

    undo_button.click(undo_click, [cursor_state], moved)
    redo_button.click(redo_click, [cursor_state], moved)
    studio.load(load, filters, loaded)
