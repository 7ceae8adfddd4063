"""The Review tab's handlers: plain functions of (context, state, inputs, user) that return the
values of the outputs `build` wires them to, so a test can call them without a browser.

The lists they return follow the output lists in app/pages/review/__init__.py: `PAIR` values
(the pair view, from view.py's `pair_values`), `MOVED` = [cursor, message, *PAIR], `LOADED` =
[queue, rows, page label, *MOVED]. Each browser session's queue and cursor live in gr.State;
core/review/workflow.py moves them on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gradio as gr

from app.context import StudioContext
from app.pages.review.queue import guidelines_of, queue_label
from app.pages.review.view import cannot_show, no_pair, pair_values, queue_cells
from app.render import literal, trust_markdown
from app.widgets import first_dataset
from core.access.roles import Action
from core.errors import GramError
from core.evaluation.calibration import pair_calibration
from core.evaluation.trust import dataset_trust
from core.head.instant import keep_instant, live_figures
from core.model.embedded import CHECKPOINT_NAME
from core.model.spec import ModelSpec
from core.review.bulk import accept_reference_labels, tag_all
from core.review.pair_view import pair_detail
from core.review.queue import QueueFilter, first_visit, progress_key, review_progress, rows_now
from core.review.reviews import find_review, review_now
from core.review.workflow import Cursor, QueueState, Saved, neighbour, open_queue, redo_last, review_pair, undo_last
from core.train.explain import explain_judgment
from core.vocab import Label

# What the pair view shows --------------------------------------------------------------------


def seen(
    ctx: StudioContext, cursor: Cursor, pair_id: int | None, judgment: int | None = None
) -> tuple[Cursor, list[Any]]:
    """The cursor on the pair as read now (the person's review version, and the stamp of
    everyone's reviews that tells when a colleague changed them) and the pair view's values."""
    if pair_id is None:
        return replace(cursor, pair_id=None, version=0, stamp=0), no_pair()
    try:
        with ctx.db.session() as session:
            pair = pair_detail(session, pair_id, cursor.reviewer)
            calibration = pair_calibration(session, pair_id)
        images = ctx.settings.show_remote_images
        values = pair_values(
            pair,
            blind=cursor.blind,
            images=images,
            judgment_id=judgment,
            viewer=cursor.reviewer,
            calibration=calibration,
        )
    except GramError:
        raise
    except Exception as error:  # one damaged pair: said on the page, the queue still works
        return replace(cursor, pair_id=pair_id, version=0, stamp=0), cannot_show(pair_id, error)
    return replace(cursor, pair_id=pair_id, version=pair.version, stamp=pair.stamp), values


def goto(ctx: StudioContext, cursor: Cursor, pair_id: int | None, message: str = "") -> list[Any]:
    """MOVED: the cursor moved to the pair, the message, and the pair view."""
    moved, values = seen(ctx, cursor, pair_id)
    return [moved, message, *values]


def shown(ctx: StudioContext, saved: Saved) -> list[Any]:
    """MOVED after a save that stays on the pair: the pair as it is now, with the save's message."""
    return goto(ctx, saved.cursor, saved.cursor.pair_id, saved.message)


def _opened(ctx: StudioContext, state: QueueState, rows: list[Any], cursor: Cursor) -> list[Any]:
    spec = ctx.spec()
    hint = next_step(ctx, state.filter.dataset, cursor.reviewer, spec) if state.filter.dataset else ""
    # Whose verdicts: each row's latest judgment ("judged by"); new ones will be the model in use's.
    # The first visit's hint goes here, in the queue's column: the pair's column keeps its one screen.
    label = f"{queue_label(state)} · model in use: **{literal(spec.name)}** (*judged by*: each row's verdict)"
    label += f"\n\n{hint}" if hint else ""
    return [state, queue_cells(rows, blind=cursor.blind), label, *goto(ctx, cursor, state.start)]


def next_step(ctx: StudioContext, dataset: str, reviewer: str, spec: ModelSpec) -> str:
    """One line of what to do next, for a person who has reviewed nothing of this dataset yet."""
    with ctx.db.session() as session:
        new, judged = first_visit(session, dataset, reviewer)
    if not new:
        return ""
    if not judged:
        return "Nothing here is judged yet: the Judge page runs the active model over this dataset."
    stand_in = spec.name == CHECKPOINT_NAME and not spec.head and not spec.adapter
    whose = "the embedded 135M model's verdicts: a stand-in, at chance on pairs like these" if stand_in else "verdicts"
    return (
        f"*First time here?* Press **a** or **b** for the better response, **Enter** to accept the verdict, "
        f"**j** / **k** to move ({whose}; the Evaluate page says how far to trust a judge)."
    )


def _advance(ctx: StudioContext, queue: QueueState, saved: Saved) -> list[Any]:
    """[queue, *MOVED] after a label: the next pair, or, when nothing was stored (a conflict), the pair as it is now."""
    if not saved.stored:
        return [queue, *shown(ctx, saved)]
    queue, pair_id = neighbour(ctx.db, queue, saved.cursor.pair_id, 1)  # auto-advance
    done = " That was the last pair of this queue." if pair_id == saved.cursor.pair_id else ""
    return [queue, *goto(ctx, saved.cursor, pair_id, saved.message + done)]


def rows_of(ctx: StudioContext, queue: QueueState, blind: bool) -> list[list[Any]]:
    """The queue page's rows as they are now."""
    if not queue.ids:
        return []
    with ctx.db.session() as session:
        rows = rows_now(session, queue.filter.dataset, queue.ids, queue.filter.reviewer)
    return queue_cells(rows, blind=blind)


# The queue ----------------------------------------------------------------------------------


def load_queue(
    ctx: StudioContext,
    name: str,
    status: str,
    order: str,
    include_reviewed: bool,
    disagreements: bool,
    tag: str,
    text: str,
    cursor: Cursor,
    *,
    user: str,
) -> list[Any]:
    """LOADED for the queue the filters describe, opened on its first pair."""
    cursor = replace(cursor, reviewer=user)
    if not name:
        return [QueueState(QueueFilter(""), 0, []), [], "no dataset", cursor, "", *no_pair()]
    trust_below = None
    if status == "needs-person":  # the threshold as the reviews stand now
        with ctx.db.session() as session:
            trust_below = dataset_trust(session, name).threshold
    f = QueueFilter(
        name,
        status,  # type: ignore[arg-type]
        include_reviewed,
        disagreements,
        tag or "",
        text or "",
        order,  # type: ignore[arg-type]
        reviewer=user,
        trust_below=trust_below,
    )
    return _opened(ctx, *open_queue(ctx.db, f, 0), cursor)


def open_studio(
    ctx: StudioContext,
    status: str,
    order: str,
    include_reviewed: bool,
    disagreements: bool,
    tag: str,
    text: str,
    cursor: Cursor,
    blind_on: bool,
    last_dataset: str | None = None,
    *,
    user: str,
) -> list[Any]:
    """[dataset chooser, blind, *LOADED] when the page opens: the dataset and blind review as this
    browser last left them (else the first dataset)."""
    chooser, cursor = first_dataset(ctx, last_dataset), replace(cursor, blind=bool(blind_on))
    loaded = load_queue(
        ctx, chooser["value"] or "", status, order, include_reviewed, disagreements, tag, text, cursor, user=user
    )
    return [chooser, bool(blind_on), *loaded]


def guides(ctx: StudioContext, name: str) -> list[Any]:
    return guidelines_of(ctx, name)


def turn_page(ctx: StudioContext, queue: QueueState, cursor: Cursor, *, step: int) -> list[Any]:
    """LOADED for the queue's page `step` pages on (the same page where there is none)."""
    state, rows = open_queue(ctx.db, queue.filter, queue.page + step)
    if not rows and step:
        state, rows = open_queue(ctx.db, queue.filter, queue.page)
    return _opened(ctx, state, rows, cursor)


def select_row(ctx: StudioContext, queue: QueueState, cursor: Cursor, event: gr.SelectData) -> list[Any]:
    """MOVED to the pair of the queue row clicked."""
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    pair_id = queue.ids[row] if 0 <= row < len(queue.ids) else cursor.pair_id
    return goto(ctx, cursor, pair_id)


def step_to(ctx: StudioContext, queue: QueueState, cursor: Cursor, *, step: int) -> list[Any]:
    """[queue, *MOVED] to the previous (-1) or next (1) pair of the queue."""
    queue, pair_id = neighbour(ctx.db, queue, cursor.pair_id, step)
    return [queue, *goto(ctx, cursor, pair_id)]


# Reviews ------------------------------------------------------------------------------------


RATIONALE_SEEN = "seen"  # the page script's word for "the rationale box is on screen" (assets.py)


def set_label(
    ctx: StudioContext,
    queue: QueueState,
    cursor: Cursor,
    model_label: str | None,
    judgment_id: int | None,
    on_screen: str | None = None,
    *,
    choice: Label | None,
    user: str,
) -> list[Any]:
    """[queue, *MOVED]: label the pair `choice` (None: accept the model's label shown) as the
    judgment the person sees, and move to the next pair. `on_screen` is what the page's script
    saw of the rationale box ("seen": on screen), recorded with the review."""
    if choice is None and model_label is None:
        why = "it is hidden in blind review; choose A, B, tie or skip" if cursor.blind else "it has none here"
        return [queue, cursor, f"No model label to accept: {why}.", *seen(ctx, cursor, cursor.pair_id)[1]]
    looked = on_screen == RATIONALE_SEEN and not cursor.blind
    saved = review_pair(ctx.db, cursor, user, judgment_id, rationale_seen=looked, label=choice or model_label)
    return _advance(ctx, queue, saved)


def skip_pair(
    ctx: StudioContext, queue: QueueState, cursor: Cursor, why: str, judgment_id: int | None, *, user: str
) -> list[Any]:
    """[queue, *MOVED, reason box]: skip the pair as not judgeable (kept out of training and
    exports) with the reason typed beside the button, and move to the next."""
    saved = review_pair(ctx.db, cursor, user, judgment_id, label=Label.SKIP, reason=why.strip())
    return [*_advance(ctx, queue, saved), "" if saved.stored else gr.skip()]  # the box empties once stored


def save_rationale(ctx: StudioContext, cursor: Cursor, text: str, judgment_id: int | None, *, user: str) -> list[Any]:
    return shown(ctx, review_pair(ctx.db, cursor, user, judgment_id, rationale=text.strip() or None))


def save_tags(
    ctx: StudioContext, cursor: Cursor, tag_text: str, note_text: str, judgment_id: int | None, *, user: str
) -> list[Any]:
    tag_list = [t.strip() for t in tag_text.split(",") if t.strip()]
    return shown(ctx, review_pair(ctx.db, cursor, user, judgment_id, tags=tag_list, note=note_text))


def undo(ctx: StudioContext, cursor: Cursor, *, user: str) -> list[Any]:
    return shown(ctx, undo_last(ctx.db, cursor, user))


def redo(ctx: StudioContext, cursor: Cursor, *, user: str) -> list[Any]:
    return shown(ctx, redo_last(ctx.db, cursor, user))


def explain(ctx: StudioContext, cursor: Cursor, judgment_id: int | None, *, user: str) -> list[Any]:
    """MOVED: the generative model writes a rationale for the shown verdict's label (kept on the
    judgment, shown as written to explain it), and the pair is shown again with it."""
    if cursor.pair_id is None or judgment_id is None:
        raise GramError("open a judged pair first: there is no verdict to explain")
    require_verdict_shown(ctx, cursor, user, "an explanation")
    made = explain_judgment(ctx.db, ctx.settings, judgment_id, ctx.spec())
    said = f"{literal(made.model)} wrote a rationale for this verdict's label."
    if made.problems:
        said += f" It is flagged: {literal('; '.join(made.problems))}."
    moved, values = seen(ctx, cursor, cursor.pair_id, judgment_id)
    return [moved, said, *values]


def require_verdict_shown(ctx: StudioContext, cursor: Cursor, user: str, what: str) -> None:
    """Refuse, in blind review before the person's own label, what would show the model's verdict."""
    if not cursor.blind or cursor.pair_id is None:
        return
    with ctx.db.session() as session:
        review = find_review(session, cursor.pair_id, user)
        labelled = review is not None and review.label is not None
    if not labelled:
        raise GramError(f"blind review: label the pair first ({what} shows the model's verdict)")


def choose_judgment(ctx: StudioContext, cursor: Cursor, chosen: int | None) -> list[Any]:
    """PAIR with another of the pair's judgments shown (what an accept then takes)."""
    return seen(ctx, cursor, cursor.pair_id, chosen)[1]


def switch_blind(ctx: StudioContext, on: bool, queue: QueueState, cursor: Cursor) -> list[Any]:
    """[blind kept in the browser, cursor, rows, *PAIR]: blind review on or off, the pair and the
    queue shown again."""
    cursor, values = seen(ctx, replace(cursor, blind=on), cursor.pair_id)
    return [on, cursor, rows_of(ctx, queue, on), *values]


# Over the whole filter ----------------------------------------------------------------------


def tag_them(ctx: StudioContext, queue: QueueState, tag: str, *, user: str) -> str:
    if not queue.filter.dataset:
        raise GramError("choose a dataset first")
    return tag_all(ctx.db, queue.filter, user, tag).summary(f"Tagged {literal(tag.strip())}")


def accept_them(ctx: StudioContext, queue: QueueState, armed: QueueFilter | None, *, user: str) -> list[Any]:
    """[message, armed]: the first press says what it would do and arms it for this filter; the
    second labels every pair of the filter the person has not labelled with its reference label."""
    if not queue.filter.dataset:
        raise GramError("choose a dataset first")
    if armed != queue.filter:
        return [
            f"This labels every pair of this filter ({queue.size()}) that you have not labelled with its "
            "reference label, as your review. Press again to do it.",
            queue.filter,
        ]
    done = accept_reference_labels(ctx.db, queue.filter, user)
    return [done.summary("Accepted the reference labels as yours"), None]


# The instant judge --------------------------------------------------------------------------


def instant_figures(ctx: StudioContext, name: str, *, user: str) -> str:
    """Refit the instant judge if enough new reviews came in (after the next pair is shown), and
    this person's live figures."""
    if not name:
        return ""
    ctx.refit_instant(name)
    with ctx.db.session() as session:
        return (
            live_figures(session, name, user).markdown(literal) + "\n\n" + trust_markdown(dataset_trust(session, name))
        )


def keep(ctx: StudioContext, name: str, *, user: str) -> str:
    if not name:
        raise GramError("choose a dataset first")
    ctx.team.require(user, Action.KEEP_INSTANT)
    made = keep_instant(ctx.db, ctx.settings, name, ctx.spec())
    return f"Made model version **{literal(made)}** from the instant judge; activate it on the Adapt page."


# Others' changes ----------------------------------------------------------------------------


def refresh(
    ctx: StudioContext, queue: QueueState, cursor: Cursor, pushed: list[list[Any]], counted: Any, *, user: str
) -> list[Any]:
    """[rows, rows pushed, progress, notice, counted]: the page's rows as they are now (only when
    they changed: a redraw would reset the table's scroll), the dataset's progress (counted again
    only when a review changed), and a notice when the open pair changed since this person saw it."""
    rows = rows_of(ctx, queue, cursor.blind)
    new_rows = rows if rows != pushed else gr.skip()
    notice = ""
    if cursor.pair_id is not None:
        with ctx.db.session() as session:
            now = review_now(session, cursor.pair_id)
        if now.stamp != cursor.stamp:
            who = "you in another window" if now.reviewer == cursor.reviewer else now.reviewer or "someone"
            label = "" if cursor.blind else f" (their label: {now.label or 'none'})"
            notice = (
                f"⚠ Pair {cursor.pair_id} was changed by {literal(who)}{literal(label)} since you opened it; "
                "select it in the queue to see it."
            )
    if not queue.filter.dataset:
        return [new_rows, rows, "", notice, None]
    with ctx.db.session() as session:
        key = progress_key(session, queue.filter.dataset)
        if key == counted:
            return [new_rows, rows, gr.skip(), notice, counted]
        done = review_progress(session, queue.filter.dataset, user)
    return [new_rows, rows, f"**{done.line(literal(user))}**", notice, key]
