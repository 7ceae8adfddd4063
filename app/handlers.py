"""The studio's error edge and event wiring.

Every event goes through `on`, which wraps its handler with `shown_errors` and requires an
`api_name`: a GramError (a problem the person can fix) reaches them as a `gr.Error` message
with its text; anything else is a bug, logged with its traceback and shown as one line.
Handlers themselves never catch and format errors.

A page's handlers are plain functions `fn(ctx, *inputs, user=...)` (app/pages/<tab>/handlers.py);
`bound` makes the Gradio callable of one, with the context and the logged-in user filled in.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from core.errors import GramError, in_studio_words, printable

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def shown_errors(fn: F) -> F:
    """`fn` with the project's errors turned into gr.Error (the one translation point)."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GramError as error:
            # A toast renders HTML: the message (which quotes names people typed) is escaped to text.
            raise gr.Error(html.escape(printable(in_studio_words(str(error))), quote=False)) from error
        except Exception as error:
            log.exception("studio handler %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(f"Something went wrong ({type(error).__name__}); the server log has the details.") from error

    return wrapped  # type: ignore[return-value]


def on(
    trigger: Callable[..., Any],
    fn: Callable[..., Any],
    inputs: Any = None,
    outputs: Any = None,
    *,
    api_name: str,
    **options: Any,
) -> Any:
    """Wire `trigger` (e.g. `button.click`) to `fn` through the error edge, with a named API."""
    return trigger(shown_errors(fn), inputs, outputs, api_name=api_name, **options)


def reviewer_name(request: gr.Request | None) -> str:
    """The logged-in user (with --auth), else 'local'."""
    return (getattr(request, "username", None) or "local") if request is not None else "local"


def bound(ctx: Any, fn: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    """The Gradio handler of a page handler `fn(ctx, *inputs, [event], *, user, **fixed)`: the
    studio context and `fixed` bound, and `user` (where `fn` takes it) the request's logged-in
    user. Gradio reads what to pass from a handler's signature and annotations (an input per
    positional parameter, the request and event data by their types), so the wrapper states them."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    positional = [
        p
        for p in list(signature.parameters.values())[1:]
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name != "user" and p.name not in fixed
    ]
    wants_user = "user" in signature.parameters

    names = [p.name for p in positional]

    def handler(*args: Any) -> Any:
        given = dict(zip(names, args, strict=False))  # by name: a bound keyword may sit between inputs
        if wants_user:
            given["user"] = reviewer_name(args[len(names)])
        return fn(ctx, **given, **fixed)

    request = (
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)] if wants_user else []
    )
    handler.__signature__ = signature.replace(parameters=[*positional, *request])  # type: ignore[attr-defined]
    handler.__annotations__ = {p.name: hints[p.name] for p in positional if p.name in hints}
    if wants_user:
        handler.__annotations__["request"] = gr.Request
    handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", "handler")
    return handler
