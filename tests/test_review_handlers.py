"""The Review tab's handlers called as plain functions, without a browser (app/pages/review/
handlers.py), and the wiring that gives them the signed-in user (app/handlers.py `bound`)."""

from __future__ import annotations

import gradio as gr
import pytest
from sqlalchemy.orm import Session

from app.context import StudioContext
from app.handlers import bound
from app.pages.review import handlers
from core.review.reviews import review_now
from core.review.workflow import Cursor, QueueState
from core.settings import Settings
from core.vocab import Label
from storage.database import Database
from tests import factories

FILTERS = ("all", "id", False, False, "", "")  # status, order, inconsistent only, disagreeing only, tag, search


@pytest.fixture
def ctx(settings: Settings, db: Database) -> StudioContext:
    return StudioContext(settings.model_copy(update={"model": "unused"}), db)


def _opened(ctx: StudioContext, name: str, user: str) -> tuple[QueueState, Cursor]:
    state, rows, page, cursor, message, *pair = handlers.load_queue(ctx, name, *FILTERS, Cursor(), user=user)
    assert isinstance(state, QueueState) and len(rows) == len(state.ids)
    assert message == "" or message.startswith(
        ("Each pair shows", "Nothing here is judged yet")
    )  # a first visit's hint
    assert cursor.pair_id == state.ids[0] and cursor.reviewer == user
    assert f"Pair {cursor.pair_id}" in pair[0]  # the header of the pair shown
    return state, cursor


def test_a_person_labels_skips_undoes_and_sees_a_colleague_change_through_the_handlers(
    ctx: StudioContext, session: Session
) -> None:
    ids = factories.dataset(session, 3, name="handlers", labels=["A", "B", "A"])
    session.commit()
    queue, cursor = _opened(ctx, "handlers", "ann")

    # No judgment: nothing to accept, and nothing moves.
    queue, same, message, *_ = handlers.set_label(ctx, queue, cursor, None, None, choice=None, user="ann")
    assert same == cursor and "No model label to accept" in message
    # A label is stored as ann's and the next pair opens.
    queue, cursor, message, *_ = handlers.set_label(ctx, queue, cursor, None, None, choice=Label.B, user="ann")
    assert cursor.pair_id == ids[1]
    with ctx.db.session() as s:
        assert (review_now(s, ids[0]).reviewer, review_now(s, ids[0]).label) == ("ann", "B")
    # A skip keeps its reason and empties the box; an undo from there reverts the skip, not the label.
    *moved, box = handlers.skip_pair(ctx, queue, cursor, " off topic ", None, user="ann")
    queue, cursor = moved[0], moved[1]
    assert cursor.pair_id == ids[2] and box == ""
    cursor = handlers.goto(ctx, cursor, ids[1])[0]
    cursor, message, *_ = handlers.undo(ctx, cursor, user="ann")
    with ctx.db.session() as s:
        assert review_now(s, ids[1]).label is None and review_now(s, ids[0]).label == "B"

    # Bob labels the pair ann has open: her next refresh says so, naming him.
    cursor = handlers.goto(ctx, cursor, ids[2])[0]
    bobs = handlers.goto(ctx, Cursor(reviewer="bob"), ids[2])[0]
    handlers.set_label(ctx, queue, bobs, None, None, choice=Label.A, user="bob")
    rows, pushed, progress, notice, counted = handlers.refresh(ctx, queue, cursor, [], None, user="ann")
    assert f"Pair {ids[2]} was changed by bob (their label: A)" in notice.replace("\\", "")  # Markdown-escaped
    assert "1 by ann" in progress and rows == pushed
    # Nothing changed since: the rows are not pushed again, the progress is not counted again.
    again = handlers.refresh(ctx, queue, cursor, pushed, counted, user="ann")
    assert again[0] == gr.skip() and again[2] == gr.skip()


def test_accepting_reference_labels_in_bulk_asks_to_be_pressed_twice(ctx: StudioContext, session: Session) -> None:
    ids = factories.dataset(session, 2, name="bulk", labels=["A", "B"])
    session.commit()
    queue, _ = _opened(ctx, "bulk", "ann")
    message, armed = handlers.accept_them(ctx, queue, None, user="ann")
    assert "Press again" in message and armed == queue.filter
    with ctx.db.session() as s:
        assert review_now(s, ids[0]).label is None  # the first press stores nothing
    message, armed = handlers.accept_them(ctx, queue, armed, user="ann")
    assert armed is None
    with ctx.db.session() as s:
        assert [review_now(s, i).label for i in ids] == ["A", "B"]


def test_bound_handlers_take_the_signed_in_user_from_the_request(ctx: StudioContext, session: Session) -> None:
    """What Gradio calls: the inputs, then the request it injects because the wrapper's signature
    asks for one; the user comes from the request, and the bound keywords are passed."""
    from gradio.helpers import special_args
    from gradio.utils import check_function_inputs_match

    ids = factories.dataset(session, 2, name="wired")
    session.commit()
    queue, cursor = _opened(ctx, "wired", "ann")
    label_b = bound(ctx, handlers.set_label, choice=Label.B)
    inputs = [queue, cursor, None, None]
    assert check_function_inputs_match(label_b, inputs, False) is None

    class Request:  # what Gradio's request gives the studio: the logged-in user
        username = "carla"

    args, *_ = special_args(label_b, list(inputs), request=Request())  # type: ignore[arg-type]
    assert args[-1].username == "carla"
    label_b(*args)
    with ctx.db.session() as s:
        assert (review_now(s, ids[0]).reviewer, review_now(s, ids[0]).label) == ("carla", "B")
    # A handler without a user gets no request; one with an event gets its event data.
    assert check_function_inputs_match(bound(ctx, handlers.choose_judgment), [cursor, None], False) is None
    assert check_function_inputs_match(bound(ctx, handlers.select_row), [queue, cursor], False) is None


def test_every_event_of_the_studio_gets_the_inputs_its_handler_takes(ctx: StudioContext) -> None:
    """Gradio fills a handler's parameters from its inputs, then the request and event data it
    asks for by type, and warns at wiring time when the counts differ: a tab that gives a bound
    handler too many or too few inputs fails here, without a browser."""
    import warnings

    from app.studio import build_studio

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        studio = build_studio(ctx)
    assert len([block for block in studio.fns.values() if block.fn is not None]) > 50
    wrong = [str(w.message) for w in caught if "arguments for function" in str(w.message)]
    assert not wrong, wrong


def test_only_a_lead_settles_a_pair_of_the_dataset_over_the_final_label_they_saw(
    settings: Settings, db: Database, session: Session
) -> None:
    from dataclasses import replace as with_

    from app.pages.team import settle
    from core.access.roles import Team
    from core.errors import ConflictError, GramError, NotFoundError, PermissionDenied

    ctx = with_(StudioContext(settings.model_copy(update={"model": "unused"}), db), team=Team(frozenset({"lead"})))
    ids = factories.dataset(session, 2, name="settled")
    other = factories.dataset(session, 1, name="elsewhere")
    session.commit()
    with pytest.raises(PermissionDenied):
        settle(ctx, "settled", ids[0], "A", "", 0, user="ann")
    with pytest.raises(NotFoundError):  # a pair of another dataset
        settle(ctx, "settled", other[0], "A", "", 0, user="lead")
    with pytest.raises(GramError, match="final label is one of"):
        settle(ctx, "settled", ids[0], "maybe", "", 0, user="lead")
    message, html, label, rationale, version, *_ = settle(ctx, "settled", ids[0], "B", " short ", 0, user="lead")
    assert "final label **B**, set by lead" in message and (label, rationale, version) == ("B", "short", 1)
    with pytest.raises(ConflictError):  # a second lead who opened the pair before the first one's label
        settle(ctx, "settled", ids[0], "A", "", 0, user="lead")
