"""The studio's other pages: datasets (import, export), judge, adapt (and self-train), evaluate.

Judging runs in a thread of the web server (inference only, one job at a time); training runs in
a worker process (core/workers.py). Both write progress to their job record, which a timer on
the page reads, so the page stays usable and a reload finds the job again.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from sqlalchemy import distinct, select

from app.render import safe_markdown
from core.adaptation import AdaptConfig, plan_adaptation, start_adaptation
from core.backends import Backend, load_backend
from core.data.exporter import EXPORT_FORMATS, export_rows, write_rows
from core.data.importer import import_files, parse_files
from core.datasets import get_dataset, list_datasets
from core.errors import GramError
from core.evaluation import dataset_report
from core.jobs import request_cancel
from core.judge import JudgeOptions
from core.judging import JudgeRun, run_judging
from core.model_versions import activate, active_version, current_spec, get_version, rollback, version_for
from core.models import ModelSpec, guided_by_default
from core.selftrain import SelfTrainConfig, start_selftrain
from core.settings import Settings
from core.training import TrainConfig
from core.workers import spawn_worker
from storage.database import Database
from storage.models import Job, Judgment, ModelVersion, Pair

DATASET_COLUMNS = ["dataset", "pairs", "judged", "reviewed", "created"]


@dataclass
class StudioContext:
    """What every page needs: settings, the store, and the judge's loaded backends."""

    settings: Settings
    db: Database
    backend_name: str = "transformers"
    _backends: dict[ModelSpec, Backend] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spec(self) -> ModelSpec:
        with self.db.session() as session:
            return current_spec(session, self.settings)

    def backend(self, spec: ModelSpec) -> Backend:
        """The backend for `spec`, loaded once (the previous model is freed when it changes)."""
        if spec not in self._backends:
            for old in self._backends.values():
                old.close()
            self._backends.clear()
            self._backends[spec] = load_backend(self.backend_name, spec, batch_size=8)
        return self._backends[spec]


def dataset_rows(ctx: StudioContext) -> list[list[Any]]:
    with ctx.db.session() as session:
        return [[s.name, s.pairs, s.judged, s.reviewed, f"{s.created_at:%Y-%m-%d %H:%M}"] for s in list_datasets(session)]


def dataset_names(ctx: StudioContext) -> list[str]:
    return [row[0] for row in dataset_rows(ctx)]


def dataset_dropdown(ctx: StudioContext, **options: Any) -> gr.Dropdown:
    """A dataset chooser whose list is re-read when opened (datasets imported meanwhile appear)."""
    names = dataset_names(ctx)
    dropdown = gr.Dropdown(choices=names, value=names[0] if names else None, **options)
    dropdown.focus(lambda: gr.update(choices=dataset_names(ctx)), outputs=dropdown)
    return dropdown


def progress_html(job: Job | None) -> str:
    """A job's progress bar and latest log lines (escaped: logs may quote user data)."""
    if job is None:
        return "<p>No job yet.</p>"
    total = job.total or 0
    bar = f'<progress value="{job.done}" max="{max(total, 1)}" style="width:100%"></progress>'
    lines = "\n".join(job.log.strip().splitlines()[-4:])
    error = f"<p><b>error:</b> {html.escape(job.error)}</p>" if job.error else ""
    return (f'<div class="job" data-status="{job.status}"><b>job {job.id} ({job.kind}): {job.status}</b> · '
            f"{job.done}/{total}{bar}<pre>{html.escape(lines)}</pre>{error}</div>")


def latest_job(db: Database, kind: str, job_id: int | None = None) -> Job | None:
    with db.session() as session:
        if job_id is not None:
            return session.get(Job, job_id)
        return session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).first()


# --- datasets ------------------------------------------------------------------------------------


def _paths(files: list[Any] | None, path: str) -> list[Path]:
    chosen = [Path(f if isinstance(f, str) else f.name) for f in files or []]
    if path.strip():
        chosen.append(Path(path.strip()).expanduser())
    if not chosen:
        raise GramError("upload a file or give a local path (a file or a Hugging Face datasets folder)")
    return chosen


def _mapping(text: str) -> dict[str, str]:
    mapping = {}
    for line in text.replace(",", "\n").splitlines():
        if line.strip():
            target, sep, source = line.partition("=")
            if not sep:
                raise GramError(f"column mapping '{line.strip()}' is not field=column")
            mapping[target.strip()] = source.strip()
    return mapping


def preview_import(ctx: StudioContext, files: list[Any] | None, path: str, mapping: str) -> tuple[str, pd.DataFrame, str]:
    try:
        parsed = parse_files(_paths(files, path), mapping=_mapping(mapping), max_bytes=ctx.settings.max_import_bytes,
                             max_chars=ctx.settings.max_field_chars)
    except GramError as error:
        return f"**Cannot read:** {safe_markdown(str(error))}", pd.DataFrame(), ""
    found = "\n".join(f"- `{Path(f.path).name}`: **{f.format}**, {f.rows} rows → {f.pairs} pairs" for f in parsed.files)
    preview = pd.DataFrame([{"prompt": r.prompt[:120], "response_a": r.response_a[:80], "response_b": r.response_b[:80],
                             "label": r.label, "source": r.source} for r in parsed.records[:10]])
    return f"Detected:\n{found}", preview, _errors(parsed.errors)


def _errors(errors: list[Any]) -> str:
    if not errors:
        return "No rows rejected."
    shown = "\n".join(f"- {safe_markdown(str(e))}" for e in errors[:50])
    more = f"\n\n…and {len(errors) - 50} more" if len(errors) > 50 else ""
    return f"**{len(errors)} rows rejected:**\n{shown}{more}"


def run_import(ctx: StudioContext, files: list[Any] | None, path: str, mapping: str, name: str,
               allow_empty: bool) -> tuple[str, str, list[list[Any]]]:
    try:
        with ctx.db.session() as session:
            report = import_files(session, _paths(files, path), dataset=name.strip() or None, mapping=_mapping(mapping),
                                  allow_empty=allow_empty, max_bytes=ctx.settings.max_import_bytes,
                                  max_chars=ctx.settings.max_field_chars)
    except GramError as error:
        return f"**Import failed:** {safe_markdown(str(error))}", "", dataset_rows(ctx)
    return safe_markdown(report.summary()), _errors(report.errors), dataset_rows(ctx)


def run_export(ctx: StudioContext, dataset: str, fmt: str) -> tuple[str | None, str]:
    try:
        with ctx.db.session() as session:
            result = export_rows(session, dataset, fmt)  # type: ignore[arg-type]
    except GramError as error:
        return None, f"**Export failed:** {safe_markdown(str(error))}"
    out = write_rows(result.rows, ctx.settings.exports_dir / f"{dataset}-{fmt}.jsonl")
    return str(out), safe_markdown(f"wrote {out.name}: {result.summary()}")


def build_datasets_tab(ctx: StudioContext) -> gr.Dataframe:
    table = gr.Dataframe(headers=DATASET_COLUMNS, value=lambda: dataset_rows(ctx), interactive=False, elem_id="datasets-table")
    refresh = gr.Button("Refresh")
    refresh.click(lambda: dataset_rows(ctx), outputs=table, api_name="datasets")
    gr.Markdown("### Import\nUpload files or give a local path; formats are detected (see the README for the list).")
    with gr.Row():
        files = gr.File(label="Files", file_count="multiple", elem_id="import-files")
        with gr.Column():
            path = gr.Textbox(label="…or a local path (file or datasets folder)", elem_id="import-path")
            name = gr.Textbox(label="Dataset name (default: the file's name)", elem_id="import-name")
            mapping = gr.Textbox(label="Column mapping, field=column per line (optional)", lines=2)
            allow_empty = gr.Checkbox(label="keep pairs with an empty response")
    with gr.Row():
        preview_button = gr.Button("Preview", elem_id="import-preview")
        import_button = gr.Button("Import", variant="primary", elem_id="import-run")
    detected = gr.Markdown(elem_id="import-detected")
    preview = gr.Dataframe(interactive=False, label="Preview (first 10 pairs)")
    summary = gr.Markdown(elem_id="import-summary")
    rejected = gr.Markdown(elem_id="import-rejected")
    preview_button.click(lambda f, p, m: preview_import(ctx, f, p, m), [files, path, mapping], [detected, preview, rejected])
    import_button.click(lambda f, p, m, n, e: run_import(ctx, f, p, m, n, e), [files, path, mapping, name, allow_empty],
                        [summary, rejected, table])
    gr.Markdown("### Export")
    with gr.Row():
        export_dataset = dataset_dropdown(ctx, label="Dataset", elem_id="export-dataset")
        fmt = gr.Radio(list(EXPORT_FORMATS), value="dpo", label="Format (dpo: TRL preference; sft: rationale SFT; jsonl: full dump)")
        export_button = gr.Button("Export")
    exported = gr.File(label="Download")
    export_note = gr.Markdown()
    export_button.click(lambda d, f: run_export(ctx, d, f), [export_dataset, fmt], [exported, export_note])
    return table


# --- judge -------------------------------------------------------------------------------------------


def start_judging(ctx: StudioContext, dataset: str, limit: float | None, fast: bool, both_orders: bool,
                  max_new_tokens: float) -> str:
    if not dataset:
        return "Choose a dataset."
    if not ctx._lock.acquire(blocking=False):
        return "A judging job is already running; wait for it or cancel it."

    def work() -> None:
        try:
            backend = ctx.backend(ctx.spec())
            options = JudgeOptions(both_orders=both_orders, max_new_tokens=int(max_new_tokens),
                                   guided=guided_by_default(backend.spec))
            run = JudgeRun(dataset, "label-only" if fast else "gram-r2", options,
                           limit=int(limit) if limit else None, batch_size=8)
            run_judging(ctx.db, backend, run, show_progress=False)
        finally:
            ctx._lock.release()

    threading.Thread(target=work, daemon=True, name="gram-judge").start()
    return f"Judging {dataset}…"


def cancel_latest(ctx: StudioContext, kind: str, job_id: int | None = None) -> str:
    job = latest_job(ctx.db, kind, job_id)
    if job is None or job.status not in ("queued", "running"):
        return "No running job to cancel."
    with ctx.db.session() as session:
        request_cancel(session, job.id)
    return f"Cancel requested for job {job.id}."


def build_judge_tab(ctx: StudioContext) -> None:
    gr.Markdown("Run the active model over a dataset. Pairs this model already judged are skipped.")
    with gr.Row():
        dataset = dataset_dropdown(ctx, label="Dataset", elem_id="judge-dataset")
        limit = gr.Number(value=8, precision=0, label="At most N pairs (empty: all)", elem_id="judge-limit")
        max_tokens = gr.Number(value=128, precision=0, label="Longest rationale (tokens)", elem_id="judge-max-tokens")
        fast = gr.Checkbox(label="fast (label-only, no rationale)", elem_id="judge-fast")
        both = gr.Checkbox(label="both orders", value=False)
    with gr.Row():
        start = gr.Button("Judge", variant="primary", elem_id="judge-start")
        cancel = gr.Button("Cancel", elem_id="judge-cancel")
    said = gr.Markdown(elem_id="judge-message")
    progress = gr.HTML(elem_id="judge-progress")
    start.click(lambda d, n, f, b, m: start_judging(ctx, d, n, f, b, m), [dataset, limit, fast, both, max_tokens], said)
    cancel.click(lambda: cancel_latest(ctx, "judge"), outputs=said)
    gr.Timer(1.0).tick(lambda: progress_html(latest_job(ctx.db, "judge")), outputs=progress)


# --- adapt -------------------------------------------------------------------------------------------


def plan_text(ctx: StudioContext, dataset: str, holdout: float) -> str:
    if not dataset:
        return "Choose a dataset."
    with ctx.db.session() as session:
        plan = plan_adaptation(session, dataset, holdout)
        active = active_version(session)
    model = active.name if active else ctx.spec().name
    return (f"**{len(plan.train)}** reviewed pairs will train ({plan.need_proof} need a written rationale from the "
            f"proving step); **{len(plan.held_out)}** are held out for the before/after figures. Model: **{model}**.")


def start_adapt(ctx: StudioContext, dataset: str, holdout: float, objective: str, max_steps: float, epochs: float,
                max_length: float, prove: bool) -> tuple[int | None, str]:
    if not dataset:
        return None, "Choose a dataset."
    train = TrainConfig(objective=objective, max_steps=int(max_steps or -1), epochs=float(epochs), max_length=int(max_length),
                        save_steps=max(1, min(10, int(max_steps or 10) // 2)))  # type: ignore[arg-type]
    try:
        job_id = start_adaptation(ctx.db, ctx.settings, AdaptConfig(dataset, holdout, prove_missing=prove, train=train))
    except GramError as error:
        return None, f"**Cannot start:** {safe_markdown(str(error))}"
    spawn_worker(ctx.settings, job_id)
    return job_id, f"Adaptation job {job_id} started in a worker process."


def start_self_training(ctx: StudioContext, dataset: str, iterations: float, pairs: float, votes: float,
                        threshold: float) -> tuple[int | None, str]:
    if not dataset:
        return None, "Choose a dataset."
    config = SelfTrainConfig(dataset, iterations=int(iterations), pairs_per_iteration=int(pairs), votes=int(votes),
                             threshold=float(threshold), train=TrainConfig(max_steps=20, max_length=768))
    job_id = start_selftrain(ctx.db, ctx.settings, config)
    spawn_worker(ctx.settings, job_id)
    return job_id, f"Self-training job {job_id} started in a worker process."


def adapt_result(job: Job | None) -> tuple[pd.DataFrame, str]:
    if job is None or job.status != "succeeded" or "after" not in (job.result or {}):
        return pd.DataFrame(), ""
    r = job.result
    before, after = r["before"]["figures"], r["after"]["figures"]
    table = pd.DataFrame(
        [{"figure": name.replace("_", " "), "before": _rounded(before.get(name)), "after": _rounded(after.get(name))}
         for name in ("accuracy", "position_consistency", "ece", "n")]
    )
    if not after.get("n"):
        table = pd.DataFrame([{"figure": "held-out pairs", "before": 0, "after": 0}])
    lists = (f"New version **{r['version']}** (inactive). Fixed: {r['fixed'] or 'none'} · broken: {r['broken'] or 'none'}"
             f" · trained on {r['train_pairs']} pairs, held out {r['held_out_pairs']}.")
    return table, lists


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


SELFTRAIN_COLUMNS = ["iteration", "labelled", "kept", "dropped", "pseudo-label accuracy", "held-out accuracy", "version"]


def selftrain_result(job: Job | None) -> pd.DataFrame:
    if job is None:
        return pd.DataFrame(columns=SELFTRAIN_COLUMNS)
    rows = []
    for number, it in enumerate((job.result or {}).get("iterations", []), start=1):
        rows.append({"iteration": number, "labelled": it["labelled"], "kept": it["kept"],
                     "dropped": ", ".join(f"{k} {v}" for k, v in it["dropped"].items()) or "none",
                     "pseudo-label accuracy": it["pseudo_label_accuracy_all"]["accuracy"],
                     "held-out accuracy": it["held_out"]["accuracy"] if it["held_out"]["n"] else None,
                     "version": it["version"]})
    return pd.DataFrame(rows, columns=SELFTRAIN_COLUMNS)


def versions_text(ctx: StudioContext) -> str:
    with ctx.db.session() as session:
        versions = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
        lines = [f"- {'**active** ' if v.is_active else ''}{v.name}" + (f" (parent {v.parent_id})" if v.parent_id else "")
                 for v in versions]
    return "Model versions:\n" + ("\n".join(lines) or "- none yet")


def activate_new(ctx: StudioContext, job_id: int | None) -> str:
    job = latest_job(ctx.db, "adapt", job_id)
    if job is None or "version_id" not in (job.result or {}):
        return "No finished adaptation to activate."
    with ctx.db.session() as session:
        version = activate(session, get_version(session, job.result["version_id"]))
        return f"Active: **{version.name}**"


def roll_back(ctx: StudioContext) -> str:
    try:
        with ctx.db.session() as session:
            return f"Active: **{rollback(session).name}**"
    except GramError as error:
        return str(error)


def build_adapt_tab(ctx: StudioContext) -> None:
    job_state = gr.State(None)
    with gr.Row():
        dataset = dataset_dropdown(ctx, label="Dataset", elem_id="adapt-dataset")
        holdout = gr.Slider(0.1, 0.5, value=0.25, step=0.05, label="held-out share of reviewed pairs")
    plan = gr.Markdown(elem_id="adapt-plan")
    with gr.Accordion("Training settings", open=False):
        with gr.Row():
            objective = gr.Radio(["both", "rationale", "label-only"], value="both", label="objective")
            max_steps = gr.Number(value=20, precision=0, label="max steps (0: use epochs)", elem_id="adapt-steps")
            epochs = gr.Number(value=2, label="epochs")
            max_length = gr.Number(value=768, precision=0, label="max tokens per example", elem_id="adapt-max-length")
            prove = gr.Checkbox(value=True, label="write rationales for corrected labels", elem_id="adapt-prove")
    with gr.Row():
        start = gr.Button("Adapt the model", variant="primary", elem_id="adapt-start")
        cancel = gr.Button("Cancel", elem_id="adapt-cancel")
    said = gr.Markdown(elem_id="adapt-message")
    progress = gr.HTML(elem_id="adapt-progress")
    result = gr.Dataframe(interactive=False, label="Held-out reviewed pairs: before / after", elem_id="adapt-result")
    lists = gr.Markdown(elem_id="adapt-lists")
    with gr.Row():
        activate_button = gr.Button("Activate the new version", elem_id="adapt-activate")
        rollback_button = gr.Button("Roll back", elem_id="adapt-rollback")
    versions = gr.Markdown(value=lambda: versions_text(ctx), elem_id="model-versions")

    dataset.change(lambda d, h: plan_text(ctx, d, h), [dataset, holdout], plan)
    holdout.change(lambda d, h: plan_text(ctx, d, h), [dataset, holdout], plan)
    start.click(lambda d, h, o, s, e, m, p: start_adapt(ctx, d, h, o, s, e, m, p),
                [dataset, holdout, objective, max_steps, epochs, max_length, prove], [job_state, said])
    cancel.click(lambda j: cancel_latest(ctx, "adapt", j), job_state, said)

    def tick(job_id: int | None) -> list[Any]:
        job = latest_job(ctx.db, "adapt", job_id)
        table, text = adapt_result(job)
        return [progress_html(job), table, text]

    gr.Timer(1.0).tick(tick, job_state, [progress, result, lists])
    activate_button.click(lambda j: activate_new(ctx, j), job_state, said).then(lambda: versions_text(ctx), None, versions)
    rollback_button.click(lambda: roll_back(ctx), None, said).then(lambda: versions_text(ctx), None, versions)

    gr.Markdown("### Self-training\nLabel unreviewed pairs with votes, keep confident ones with proofs, retrain.")
    st_state = gr.State(None)
    with gr.Row():
        iterations = gr.Number(value=1, precision=0, label="iterations")
        pairs = gr.Number(value=16, precision=0, label="pairs per iteration")
        votes = gr.Number(value=4, precision=0, label="votes")
        threshold = gr.Slider(0.5, 1.0, value=0.7, step=0.05, label="confidence threshold")
    st_start = gr.Button("Self-train", elem_id="selftrain-start")
    st_said = gr.Markdown()
    st_progress = gr.HTML()
    st_table = gr.Dataframe(interactive=False, label="Iterations")
    st_start.click(lambda d, i, p, v, t: start_self_training(ctx, d, i, p, v, t), [dataset, iterations, pairs, votes, threshold],
                   [st_state, st_said])
    gr.Timer(2.0).tick(lambda j: [progress_html(latest_job(ctx.db, "selftrain", j)),
                                  selftrain_result(latest_job(ctx.db, "selftrain", j))], st_state, [st_progress, st_table])


# --- evaluate ----------------------------------------------------------------------------------------


def judged_models(ctx: StudioContext, dataset: str) -> list[str]:
    if not dataset:
        return []
    with ctx.db.session() as session:
        dataset_id = get_dataset(session, dataset).id
        return list(session.scalars(select(distinct(Judgment.model)).join(Pair).where(Pair.dataset_id == dataset_id)))


def evaluation_view(ctx: StudioContext, dataset: str, model: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    if not dataset or not model:
        return "Choose a dataset and a model that judged it.", pd.DataFrame(), pd.DataFrame()
    with ctx.db.session() as session:
        report = dataset_report(session, get_dataset(session, dataset).id, model)
    ref, rev = report.against_reference, report.against_reviews
    consistency = "" if ref.position_consistency is None else f" · position consistency {ref.position_consistency:.3f}"
    agreement = ("no reviewed pairs yet" if report.people_model_agreement is None
                 else f"{report.people_model_agreement:.3f} on {report.agreement_n} reviewed pairs")
    text = (f"**Against reference labels:** accuracy {ref.accuracy:.3f} on {ref.n} (ties left out: {ref.ties_excluded})"
            f"{consistency} · ECE {ref.ece:.4f}\n\n"
            f"**Against people's labels:** accuracy {rev.accuracy:.3f} on {rev.n}\n\n"
            f"**People–model agreement:** {agreement}")
    labels = sorted({k for row in report.confusion.values() for k in row} | {"A", "B"})
    confusion = pd.DataFrame([{"reference \\ model": ref_label, **{m: report.confusion[ref_label].get(m, 0) for m in labels}}
                              for ref_label in sorted(report.confusion)])
    reliability = pd.DataFrame([{"confidence": round(b.confidence, 3), "accuracy": round(b.accuracy, 3), "pairs": b.count,
                                 "bin": f"{b.low:.2f}-{b.high:.2f}"} for b in ref.reliability if b.count])
    return text, confusion, reliability


def build_evaluate_tab(ctx: StudioContext) -> None:
    with gr.Row():
        dataset = dataset_dropdown(ctx, label="Dataset", elem_id="eval-dataset")
        model = gr.Dropdown(choices=[], label="Model (as stored on its judgments)", elem_id="eval-model")
        show = gr.Button("Evaluate", elem_id="eval-run")
    summary = gr.Markdown(elem_id="eval-summary")
    confusion = gr.Dataframe(interactive=False, label="Confusion matrix", elem_id="eval-confusion")
    plot = gr.ScatterPlot(x="confidence", y="accuracy", label="Reliability diagram (accuracy by confidence bin)",
                          x_lim=[0.5, 1.0], y_lim=[0.0, 1.0], elem_id="eval-reliability")
    dataset.change(lambda d: gr.update(choices=judged_models(ctx, d), value=(judged_models(ctx, d) or [None])[0]), dataset, model)
    model.focus(lambda d: gr.update(choices=judged_models(ctx, d)), dataset, model)
    show.click(lambda d, m: evaluation_view(ctx, d, m), [dataset, model], [summary, confusion, plot])


def ensure_version(ctx: StudioContext) -> None:
    """Record the configured model as a version so the Adapt page has a parent to show."""
    with ctx.db.session() as session:
        version_for(session, current_spec(session, ctx.settings))
