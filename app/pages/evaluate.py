"""The Evaluate tab: a model's stored verdicts on a dataset against reference labels and people's
labels, the confusion matrix and a reliability diagram."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from app.context import StudioContext
from app.handlers import on
from app.widgets import dataset_dropdown
from core.evaluation.metrics import Evaluation
from core.evaluation.reports import dataset_report
from core.judge.judgments import judged_models


def models_of(ctx: StudioContext, dataset: str) -> list[str]:
    if not dataset:
        return []
    with ctx.db.session() as session:
        return judged_models(session, dataset)


def _accuracy(figures: Evaluation) -> str:
    """Accuracy with its size and 95% interval, or a plain statement when there is too little to say."""
    if figures.accuracy_ci is None:
        return "no scored pairs"
    low, high = figures.accuracy_ci
    few = " — too few pairs to mean much" if figures.n < 30 else ""
    return f"accuracy {figures.accuracy:.3f} (95% CI {low:.2f}–{high:.2f}) on {figures.n}{few}"


def evaluation_view(ctx: StudioContext, dataset: str, model: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    if not dataset or not model:
        return "Choose a dataset and a model that judged it.", pd.DataFrame(), pd.DataFrame()
    with ctx.db.session() as session:
        report = dataset_report(session, dataset, model)
    ref, rev = report.against_reference, report.against_reviews
    consistency = "" if ref.position_consistency is None else f" · position consistency {ref.position_consistency:.3f}"
    agreement = (
        "no reviewed pairs yet"
        if report.people_model_agreement is None
        else f"{report.people_model_agreement:.3f} on {report.agreement_n} reviewed pairs"
    )
    text = (
        f"**Against reference labels:** {_accuracy(ref)} (ties left out: {ref.ties_excluded}){consistency} · "
        f"ECE {ref.ece:.4f} · labels forced at the answer slot: {ref.forced} of {ref.n}\n\n"
        f"**Against people's labels:** {_accuracy(rev)}\n\n"
        f"**People–model agreement:** {agreement}"
    )
    labels = sorted({k for row in report.confusion.values() for k in row} | {"A", "B"})
    confusion = pd.DataFrame(
        [
            {"reference \\ model": ref_label, **{m: report.confusion[ref_label].get(m, 0) for m in labels}}
            for ref_label in sorted(report.confusion)
        ]
    )
    reliability = pd.DataFrame(
        [
            {
                "confidence": round(b.confidence, 3),
                "accuracy": round(b.accuracy, 3),
                "pairs": b.count,
                "bin": f"{b.low:.2f}-{b.high:.2f}",
            }
            for b in ref.reliability
            if b.count
        ]
    )
    return text, confusion, reliability


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    with gr.Row():
        dataset = dataset_dropdown(ctx, studio, "evaluate_datasets", label="Dataset", elem_id="eval-dataset")
        model = gr.Dropdown(
            choices=[], allow_custom_value=True, label="Model (as stored on its judgments)", elem_id="eval-model"
        )
        show = gr.Button("Evaluate", elem_id="eval-run")
    summary = gr.Markdown(elem_id="eval-summary")
    confusion = gr.Dataframe(interactive=False, label="Confusion matrix", elem_id="eval-confusion")
    plot = gr.ScatterPlot(
        x="confidence",
        y="accuracy",
        label="Reliability diagram (accuracy by confidence bin)",
        x_lim=[0.0, 1.0],
        y_lim=[0.0, 1.0],
        elem_id="eval-reliability",
    )

    def choose_models(d: str) -> dict:
        models = models_of(ctx, d)
        return gr.update(choices=models, value=models[0] if models else None)

    on(dataset.change, choose_models, dataset, model, api_name="evaluate_models")
    on(model.focus, lambda d: gr.update(choices=models_of(ctx, d)), dataset, model, api_name="evaluate_models_refresh")
    on(
        show.click,
        lambda d, m: evaluation_view(ctx, d, m),
        [dataset, model],
        [summary, confusion, plot],
        api_name="evaluate",
    )
