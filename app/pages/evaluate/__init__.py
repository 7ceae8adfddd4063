"""The Evaluate tab: a model's stored verdicts on a dataset against reference labels and people's
labels, the confusion matrix and a reliability diagram; several models side by side."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from app.context import StudioContext
from app.handlers import on
from app.plots import reliability_svg
from app.render import trust_markdown
from app.widgets import dataset_dropdown, remembered
from core.data.judgments import judged_models
from core.evaluation.calibration import dataset_calibration
from core.evaluation.estimates import dataset_estimates
from core.evaluation.metrics import Evaluation
from core.evaluation.reports import DatasetReport, dataset_report
from core.evaluation.trust import DEFAULT_ALPHA, DEFAULT_TARGET, dataset_trust
from core.stats.intervals import MIN_VERDICT_PAIRS


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
    few = " — too few pairs to mean much" if figures.n < MIN_VERDICT_PAIRS else ""
    return f"accuracy {figures.accuracy:.3f} (95% CI {low:.2f}–{high:.2f}) on {figures.n}{few}"


def evaluation_view(ctx: StudioContext, dataset: str, model: str | None) -> tuple[str, pd.DataFrame, str]:
    if not dataset or not model:
        return "Choose a dataset and a model that judged it.", pd.DataFrame(), ""
    with ctx.db.session() as session:
        report = dataset_report(session, dataset, model)
        calibration = dataset_calibration(session, dataset)
    ref, rev = report.against_reference, report.against_reviews
    consistency = "" if ref.consistency_text is None else f" · position consistency {ref.consistency_text}"
    trained = (
        f"\n\n**Left out of every figure:** {ref.trained_excluded} pairs this model (or a version it was "
        "trained from) trained on."
        if ref.trained_excluded
        else ""
    )
    agreement = (
        "no reviewed pairs yet"
        if report.people_model_agreement is None
        else f"{report.people_model_agreement:.3f} on {report.agreement_n} reviewed pairs"
    )
    text = (
        f"**Against reference labels:** {_accuracy(ref)} ({ref.left_out}){consistency} · "
        f"ECE {ref.ece:.4f} · labels forced at the answer slot: {ref.forced} of {ref.n} · "
        f"undecided (counted wrong): {ref.undecided} of {ref.n}\n\n"
        f"**Against people's labels:** {_accuracy(rev)}\n\n"
        f"**People–model agreement:** {agreement}{trained}\n\n"
        f"**Calibration in force** for the confidences shown on the Review page: {calibration.in_force}."
    )
    return text, confusion_table(report), reliability_svg(ref)


# Every reference label is a row (none: the source had no label) and every model answer a column
# (tie: undecided, P(A) within the backend's precision of 0.5; none: no parseable label), zeros
# included, so the matrix reads the same on every dataset.
REFERENCE_ROWS = ("A", "B", "tie", "none")
MODEL_COLUMNS = ("A", "B", "tie", "none")


def confusion_table(report: DatasetReport) -> pd.DataFrame:
    rows = []
    for reference in REFERENCE_ROWS:
        counts = report.confusion.get(reference, {})
        row = {"reference \\ model": reference, **{m: counts.get(m, 0) for m in MODEL_COLUMNS}}
        rows.append({**row, "pairs": sum(counts.values())})
    return pd.DataFrame(rows)


def _consistency_cell(figures: Evaluation) -> float | str | None:
    if figures.position_consistency is not None:
        return round(figures.position_consistency, 3)
    return "by construction (a head)" if figures.consistent_by_construction else None


def compare_models(ctx: StudioContext, dataset: str, models: list[str] | None) -> pd.DataFrame:
    """The chosen models on one dataset, side by side: each on the pairs it judged."""
    if not dataset or not models:
        return pd.DataFrame()
    rows = []
    with ctx.db.session() as session:
        for model in models:
            report = dataset_report(session, dataset, model)
            ref = report.against_reference
            low, high = ref.accuracy_ci or (0.0, 0.0)
            rows.append(
                {
                    "model": model,
                    "scored pairs": ref.n,
                    "accuracy": round(ref.accuracy, 3) if ref.n else None,
                    "95% CI": f"{low:.2f}–{high:.2f}" if ref.n else "",
                    "position consistency": _consistency_cell(ref),
                    "trained on (left out)": ref.trained_excluded,
                    "ECE": round(ref.ece, 3),
                    "agreement with people": None
                    if report.people_model_agreement is None
                    else f"{report.people_model_agreement:.3f} on {report.agreement_n}",
                    "note": "too few pairs to tell" if ref.n < MIN_VERDICT_PAIRS else "",
                }
            )
    return pd.DataFrame(rows)


def trust_view(ctx: StudioContext, dataset: str, target: float | None, alpha: float | None) -> str:
    """The trust threshold of the dataset's latest verdicts (core/evaluation/trust.py)."""
    if not dataset:
        return "Choose a dataset."
    with ctx.db.session() as session:
        report = dataset_trust(
            session,
            dataset,
            DEFAULT_TARGET if target is None else float(target),
            DEFAULT_ALPHA if alpha is None else float(alpha),
        )
    return trust_markdown(report) + "\n\nPairs under it are the Review page's *needs a person* queue."


def estimates_view(ctx: StudioContext, dataset: str) -> tuple[pd.DataFrame, str]:
    """Prediction-powered estimates beside the naive ones (core/evaluation/estimates.py)."""
    if not dataset:
        return pd.DataFrame(), "Choose a dataset."
    with ctx.db.session() as session:
        found = dataset_estimates(session, dataset)
    note = (
        f"From {found.labelled} reviewed pairs and the judge's verdicts on {found.unlabelled} more; left out: "
        f"{found.trained_excluded} the judge trained on, {found.tied_or_skipped} tied or skipped, {found.unjudged} "
        "not judged. Prediction-powered inference corrects the judge's bias with the reviews, so its interval "
        "is valid whatever the judge; like every figure here it assumes the reviewed pairs are a random sample."
    )
    return pd.DataFrame([row.cells() for row in found.rows]), note


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    with gr.Row():
        dataset = dataset_dropdown(ctx, studio, "evaluate_datasets", label="Dataset", elem_id="eval-dataset")
        model = gr.Dropdown(
            choices=[], allow_custom_value=True, label="Model (as stored on its judgments)", elem_id="eval-model"
        )
        show = gr.Button("Evaluate", elem_id="eval-run")
    summary = gr.Markdown(elem_id="eval-summary")
    confusion = gr.Dataframe(interactive=False, label="Confusion matrix", elem_id="eval-confusion")
    plot = gr.HTML(label="Reliability diagram", elem_id="eval-reliability")
    gr.Markdown("### How far to trust the judge")
    with gr.Row():
        target = gr.Number(
            DEFAULT_TARGET, minimum=0.5, maximum=0.99, step=0.01, label="Agreement with people", elem_id="trust-target"
        )
        alpha = gr.Number(
            DEFAULT_ALPHA, minimum=0.01, maximum=0.25, step=0.01, label="Chance it fails", elem_id="trust-alpha"
        )
        find = gr.Button("Find the trust threshold", elem_id="trust-run", scale=0)
    trust = gr.Markdown(elem_id="trust-summary")
    gr.Markdown("### Estimates from the reviews and the judge together")
    estimate = gr.Button("Estimate", elem_id="estimates-run")
    estimates = gr.Dataframe(interactive=False, wrap=True, elem_id="estimates-table")
    estimates_note = gr.Markdown(elem_id="estimates-note")
    gr.Markdown("### Compare models on this dataset")
    with gr.Row():
        compared = gr.Dropdown(
            choices=[], multiselect=True, label="Models (as stored on their judgments)", elem_id="compare-models"
        )
        compare = gr.Button("Compare", elem_id="compare-run", scale=0)
    comparison = gr.Dataframe(interactive=False, elem_id="compare-table")

    last_model = remembered("evaluate-model")  # the model this browser evaluated last, where it judged

    def choose_models(d: str, last: str | None) -> dict:
        models = models_of(ctx, d)
        return gr.update(choices=models, value=last if last in models else models[0] if models else None)

    on(dataset.change, choose_models, [dataset, last_model], model, api_name="evaluate_models")
    on(model.input, lambda m: m or "", model, last_model, api_name="evaluate_model_remember")
    on(
        dataset.change,
        lambda d: gr.update(choices=models_of(ctx, d), value=[]),
        dataset,
        compared,
        api_name="compare_models_list",
    )
    on(
        compare.click,
        lambda d, ms: compare_models(ctx, d, ms),
        [dataset, compared],
        comparison,
        api_name="compare_models",
    )
    on(model.focus, lambda d: gr.update(choices=models_of(ctx, d)), dataset, model, api_name="evaluate_models_refresh")
    on(find.click, lambda d, t, a: trust_view(ctx, d, t, a), [dataset, target, alpha], trust, api_name="trust")
    on(estimate.click, lambda d: estimates_view(ctx, d), dataset, [estimates, estimates_note], api_name="estimates")
    on(
        show.click,
        lambda d, m: evaluation_view(ctx, d, m),
        [dataset, model],
        [summary, confusion, plot],
        api_name="evaluate",
    )
