"""The studio's error edge and event wiring.

Every event goes through `on`, which wraps its handler with `shown_errors` and requires an
`api_name`: a GramError (a problem the person can fix) reaches them as a `gr.Error` message
with its text; anything else is a bug, logged with its traceback and shown as one line.
Handlers themselves never catch and format errors.
"""

from __future__ import annotations

import functools
import html
import logging
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
