"""The Gradio web app. Handlers only call `core/`; per-user state lives in gr.State."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from sqlalchemy import func, select

from core.datasets import get_dataset, list_datasets
from core.settings import Settings
from storage.database import Database
from storage.models import Pair

PAGE_SIZE = 25
DATASET_COLUMNS = ["dataset", "pairs", "judged", "reviewed", "created"]
PAIR_COLUMNS = ["id", "source", "prompt", "reference"]


@dataclass(frozen=True)
class StudioContext:
    """What every page needs: the settings and the database (no module globals)."""

    settings: Settings
    db: Database
    model_path: str


def _dataset_rows(ctx: StudioContext) -> list[list[object]]:
    with ctx.db.session() as session:
        return [
            [s.name, s.pairs, s.judged, s.reviewed, f"{s.created_at:%Y-%m-%d %H:%M}"]
            for s in list_datasets(session)
        ]


def _pair_rows(ctx: StudioContext, dataset: str | None, page: int) -> tuple[list[list[object]], str]:
    if not dataset:
        return [], "no dataset"
    with ctx.db.session() as session:
        ds = get_dataset(session, dataset)
        total = session.scalar(select(func.count(Pair.id)).where(Pair.dataset_id == ds.id)) or 0
        pairs = session.scalars(
            select(Pair)
            .where(Pair.dataset_id == ds.id)
            .order_by(Pair.id)
            .offset(page * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        rows = [[p.id, p.source, p.prompt[:160], p.reference_label or ""] for p in pairs]
    pages = max(1, -(-total // PAGE_SIZE))
    return rows, f"page {page + 1} of {pages} ({total} pairs)"


def build_studio(ctx: StudioContext) -> gr.Blocks:
    with gr.Blocks(title="GRAM Studio") as studio:
        gr.Markdown(f"# GRAM Studio\nModel: `{ctx.model_path}` · store: `{ctx.settings.database_url}`")
        with gr.Tab("Datasets"):
            datasets_table = gr.Dataframe(
                headers=DATASET_COLUMNS, value=lambda: _dataset_rows(ctx), interactive=False
            )
            refresh = gr.Button("Refresh")
            refresh.click(lambda: _dataset_rows(ctx), outputs=datasets_table, api_name="datasets")
        with gr.Tab("Pairs"):
            names = [row[0] for row in _dataset_rows(ctx)]
            dataset = gr.Dropdown(choices=names, value=names[0] if names else None, label="Dataset")
            page = gr.State(0)
            with gr.Row():
                previous_page = gr.Button("◀ Previous")
                page_label = gr.Markdown()
                next_page = gr.Button("Next ▶")
            pairs_table = gr.Dataframe(headers=PAIR_COLUMNS, interactive=False, wrap=True)

            def show(name: str | None, number: int) -> tuple[list[list[object]], str, int]:
                rows, label = _pair_rows(ctx, name, max(0, number))
                return rows, label, max(0, number)

            outputs = [pairs_table, page_label, page]
            dataset.change(lambda n: show(n, 0), inputs=dataset, outputs=outputs, api_name="pairs")
            previous_page.click(lambda n, p: show(n, p - 1), inputs=[dataset, page], outputs=outputs)
            next_page.click(lambda n, p: show(n, p + 1), inputs=[dataset, page], outputs=outputs)
            studio.load(lambda n: show(n, 0), inputs=dataset, outputs=outputs)
    return studio
