"""Components more than one page uses."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.context import StudioContext
from app.handlers import on
from app.render import literal
from core.data.datasets import list_datasets


def dataset_names(ctx: StudioContext) -> list[str]:
    with ctx.db.session() as session:
        return [s.name for s in list_datasets(session)]


def first_dataset(ctx: StudioContext, chosen: str | None = None) -> dict[str, Any]:
    """The chooser's list and first dataset, read when a signed-in page loads. A dataset the person
    already chose stays: on a busy studio the load can answer after their first click, and
    replacing their choice then would send their next action (a save) to another dataset."""
    names = dataset_names(ctx)
    return gr.update(choices=names, value=chosen if chosen in names else (names[0] if names else None))


def dataset_chooser(ctx: StudioContext, api_name: str, **options: Any) -> gr.Dropdown:
    """A dataset chooser that names no dataset until it is filled (after login: the page a visitor
    gets before it names none), re-read when opened (datasets imported meanwhile appear)."""
    # allow_custom_value: the choices exist only after login, so the API must not check against the
    # empty list of the page's config; the handlers look the name up and say when it does not exist.
    dropdown = gr.Dropdown(choices=[], value=None, allow_custom_value=True, **options)
    on(dropdown.focus, lambda: gr.update(choices=dataset_names(ctx)), outputs=dropdown, api_name=api_name)
    return dropdown


def remembered(key: str) -> gr.BrowserState:
    """A choice this browser keeps across reloads (its local storage), under `key`."""
    return gr.BrowserState("", storage_key=f"gram-studio-{key}")


def dataset_dropdown(ctx: StudioContext, studio: gr.Blocks, api_name: str, **options: Any) -> gr.Dropdown:
    """A dataset chooser filled when a signed-in page loads: with the dataset this browser chose
    last on this page (a reload does not send the person back to the first dataset), else the first."""
    dropdown = dataset_chooser(ctx, api_name, **options)
    kept = remembered(api_name)
    on(
        studio.load,
        lambda chosen, last: first_dataset(ctx, chosen or last),
        [dropdown, kept],
        dropdown,
        api_name=f"{api_name}_on_load",
    )
    on(dropdown.input, lambda name: name or "", dropdown, kept, api_name=f"{api_name}_remember")
    return dropdown


def header_text(ctx: StudioContext, request: gr.Request | None) -> str:
    """The studio's one-line header: the model in use, the store, and who is signed in."""
    who = getattr(request, "username", None) if request is not None else None
    signed_in = f" · signed in as **{literal(who)}** · [log out](/logout)" if who else ""
    store = ctx.db.engine.url.render_as_string()  # hides a PostgreSQL password
    return f"**GRAM Studio** · model: **{literal(ctx.spec().name)}** · store: {literal(store)}{signed_in}"
