"""The Gradio web app: one tab per job to be done. Handlers only call `core/` (see app/review.py
and app/pages.py); per-browser state lives in gr.State, shared state in the store."""

from __future__ import annotations

import gradio as gr

from app.pages import (
    StudioContext,
    build_adapt_tab,
    build_datasets_tab,
    build_evaluate_tab,
    build_judge_tab,
    dataset_names,
)
from app.review import KEYBOARD_JS, build_review_tab

HEAD = KEYBOARD_JS  # passed to launch(head=...): the review page's keyboard shortcuts


def build_studio(ctx: StudioContext) -> gr.Blocks:
    with gr.Blocks(title="GRAM Studio") as studio:
        gr.Markdown(f"# GRAM Studio\nModel: `{ctx.spec().name}` · store: `{ctx.db.engine.url.render_as_string()}`")
        with gr.Tab("Review", id="review"):
            build_review_tab(studio, ctx.db, lambda: dataset_names(ctx))
        with gr.Tab("Datasets", id="datasets"):
            build_datasets_tab(ctx)
        with gr.Tab("Judge", id="judge"):
            build_judge_tab(ctx)
        with gr.Tab("Adapt", id="adapt"):
            build_adapt_tab(ctx)
        with gr.Tab("Evaluate", id="evaluate"):
            build_evaluate_tab(ctx)
    return studio


__all__ = ["HEAD", "StudioContext", "build_studio"]
