"""Components more than one page uses."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.context import StudioContext
from app.handlers import on
from core.data.datasets import list_datasets


def dataset_names(ctx: StudioContext) -> list[str]:
    with ctx.db.session() as session:
        return [s.name for s in list_datasets(session)]


def dataset_dropdown(ctx: StudioContext, api_name: str, **options: Any) -> gr.Dropdown:
    """A dataset chooser whose list is re-read when opened (datasets imported meanwhile appear)."""
    names = dataset_names(ctx)
    dropdown = gr.Dropdown(choices=names, value=names[0] if names else None, **options)
    on(dropdown.focus, lambda: gr.update(choices=dataset_names(ctx)), outputs=dropdown, api_name=api_name)
    return dropdown
