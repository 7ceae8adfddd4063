"""The Review page's queue column: the dataset, its guidelines, the filters, the person's queue.

Built here and wired on the page (app/pages/review.py), so the page module stays about actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.context import StudioContext
from app.render import literal, markdown_html
from app.widgets import dataset_chooser
from core.data.datasets import get_dataset
from core.review.queue import QUEUE_COLUMNS, STATUSES
from core.review.workflow import QueueState


@dataclass
class QueueColumn:
    dataset: gr.Dropdown
    guidelines_box: gr.Accordion
    guidelines: gr.HTML
    status: gr.Dropdown
    sort: gr.Dropdown
    blind: gr.Checkbox
    blind_saved: gr.BrowserState
    inconsistent: gr.Checkbox
    disagreeing: gr.Checkbox
    tag: gr.Textbox
    search: gr.Textbox
    prev_page: gr.Button
    apply: gr.Button
    next_page: gr.Button
    page_label: gr.Markdown
    table: gr.Dataframe
    instant_panel: gr.Markdown
    keep_instant: gr.Button
    bulk_tag: gr.Textbox
    bulk_tag_apply: gr.Button
    bulk_accept: gr.Button

    @property
    def filters(self) -> list[Any]:
        """The filter inputs, in the order of the page's `load`."""
        return [self.dataset, self.status, self.sort, self.inconsistent, self.disagreeing, self.tag, self.search]


def queue_column(ctx: StudioContext) -> QueueColumn:
    """The queue column's components, inside the caller's layout."""
    # Filled by the page's load event, together with the queue of its first dataset.
    dataset = dataset_chooser(ctx, "review_datasets", label="Dataset", elem_id="review-dataset")
    with gr.Accordion("Guidelines", open=False) as guidelines_box:  # opened when there are some
        guidelines = gr.HTML(elem_id="review-guidelines", max_height=160)
    with gr.Row():
        status = gr.Dropdown(STATUSES, value="all", label="Status", elem_id="review-status")
        sort = gr.Dropdown(
            [
                ("pair id", "id"),
                ("lowest confidence first", "confidence-asc"),
                ("highest confidence first", "confidence-desc"),
                ("instant judge least sure first", "instant-uncertain"),
            ],
            value="id",
            label="Order",
            elem_id="review-order",
        )
    blind = gr.Checkbox(
        label="Blind review: hide the reference label, the model and colleagues' labels until I label",
        elem_id="blind-review",
    )
    blind_saved = gr.BrowserState(False, storage_key="gram-studio-blind-review")  # per person (browser)
    with gr.Accordion("Filters", open=False):
        inconsistent = gr.Checkbox(label="position-inconsistent only")
        disagreeing = gr.Checkbox(label="the model disagrees with the reference")
        tag = gr.Textbox(label="has tag")
        search = gr.Textbox(label="text search")
    with gr.Row():
        prev_page = gr.Button("◀ page", scale=0, size="sm", min_width=70)
        apply = gr.Button("Show", elem_id="queue-apply", scale=0, size="sm", min_width=70)
        next_page = gr.Button("page ▶", scale=0, size="sm", min_width=70)
    page_label = gr.Markdown(elem_id="queue-page")
    table = gr.Dataframe(headers=QUEUE_COLUMNS, interactive=False, wrap=False, max_height=360, elem_id="queue-table")
    with gr.Accordion("Bulk actions on every pair of this filter", open=False):
        with gr.Row():
            bulk_tag = gr.Textbox(show_label=False, placeholder="a tag", container=False, elem_id="bulk-tag")
            bulk_tag_apply = gr.Button("Tag them", size="sm", scale=0, elem_id="bulk-tag-apply")
        bulk_accept = gr.Button("Accept their reference labels as my reviews", size="sm", elem_id="bulk-accept")
    instant_panel = gr.Markdown(elem_id="instant-judge")
    keep_instant = gr.Button("Keep the instant judge as a model version", size="sm", elem_id="instant-keep")
    return QueueColumn(
        dataset,
        guidelines_box,
        guidelines,
        status,
        sort,
        blind,
        blind_saved,
        inconsistent,
        disagreeing,
        tag,
        search,
        prev_page,
        apply,
        next_page,
        page_label,
        table,
        instant_panel,
        keep_instant,
        bulk_tag,
        bulk_tag_apply,
        bulk_accept,
    )


def queue_label(state: QueueState) -> str:
    pages = f"page {state.page + 1} of {state.pages}" if state.counted else f"page {state.page + 1}"
    return f"**{literal(state.filter.dataset)}** · {pages} · {state.size()}"


def guidelines_of(ctx: StudioContext, name: str) -> list[Any]:
    """The dataset's guidelines (untrusted Markdown, rendered safely), open when there are some."""
    text = ""
    if name:
        with ctx.db.session() as session:
            text = get_dataset(session, name).guidelines
    shown = markdown_html(text) if text else markdown_html("*No guidelines for this dataset (Datasets page).*")
    return [shown, gr.Accordion(open=bool(text))]
