"""The Judge tab: run the active model over a dataset as a job, with a progress bar and a cancel button.

Judging runs as every long job does (core/worker/process.py): the job is split into batches and a
worker process judges them, writing its progress to the job record, which a timer on the page
reads, so the page stays usable, a reload finds the job again, and the web server never holds
the work.
"""

from __future__ import annotations

import logging

import gradio as gr

from app.context import StudioContext
from app.handlers import bound, on
from app.render import literal, progress_html, workers_html
from app.widgets import dataset_dropdown
from core.access.roles import Action
from core.backends import backend_settings
from core.errors import GramError
from core.jobs.batches import job_workers
from core.jobs.cancel import request_cancel
from core.jobs.lifecycle import job_view, latest_job
from core.judge.generative import JudgeOptions
from core.judge.work import JudgeRun, verdict_protocol
from core.model.spec import guided_by_default
from core.vocab import ACTIVE, JobKind, JobStatus
from core.worker.process import start_judge_worker

log = logging.getLogger(__name__)


def start_judging(
    ctx: StudioContext,
    dataset: str,
    limit: float | None,
    fast: bool,
    both_orders: bool,
    max_new_tokens: float,
    user: str = "local",
) -> str:
    if not dataset:
        raise GramError("choose a dataset to judge")
    spec = ctx.spec()
    options = JudgeOptions(both_orders=both_orders, max_new_tokens=int(max_new_tokens), guided=guided_by_default(spec))
    run = JudgeRun(
        dataset,
        verdict_protocol(spec, fast),  # a head version's verdicts are its head's
        options,
        limit=int(limit) if limit else None,
        batch_size=8,
        ramp=True,  # a person is watching: the bar moves from the first pair on
    )
    backend_name, _ = backend_settings(ctx.settings)
    job = start_judge_worker(ctx.db, ctx.settings, spec, backend_name, run, owner=user)
    # Said first, whatever the job: a head asked for rationales must not end in a silent "0/0".
    head = (
        f"**{literal(spec.name)} is a judge head: it gives verdicts (a label and a confidence), not "
        "rationales**, so its verdicts come from the fast path. For the reasons behind a verdict, use "
        "*Explain this verdict* on the Review page: the base model writes a rationale for that label. "
        if spec.head and not fast
        else ""
    )
    if job.status not in ACTIVE:
        return f"{head}Nothing left to judge in {literal(dataset)} with this model and these options."
    return f"{head}Judging {literal(dataset)} (job {job.id}): a worker is loading the model…"


def judging_status(ctx: StudioContext) -> str:
    """The latest judging job's progress, and its workers where it is split for them (the studio's
    own runs, and `gram judge --for-workers`)."""
    job = job_view(ctx.db, JobKind.JUDGE)
    workers = job_workers(ctx.db, job.id, timeout_s=ctx.settings.job_timeout_s) if job is not None else None
    return progress_html(job) + (workers_html(workers, job.id) if job is not None and workers is not None else "")


def cancel(ctx: StudioContext, kind: JobKind, job_id: int | None = None, user: str = "local") -> str:
    """Ask the page's job to stop: the person who started it may, and an admin may cancel any."""
    with ctx.db.session() as session:
        shown = latest_job(session, kind, job_id)
        if shown is None or shown.status not in ACTIVE:
            return "No running job to cancel."
        if not ctx.team.may_cancel(user, shown.owner):
            ctx.team.require(user, Action.CANCEL_OTHERS_JOB)
        job = request_cancel(session, shown.id)
        if job.status == JobStatus.CANCELLED:
            return f"Job {job.id} cancelled (its runner had stopped)."
        return f"Cancel requested for job {job.id}."


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    gr.Markdown("Run the active model over a dataset. Pairs this model already judged are skipped.")
    with gr.Row():
        dataset = dataset_dropdown(ctx, studio, "judge_datasets", label="Dataset", elem_id="judge-dataset")
        limit = gr.Number(value=8, precision=0, label="At most N pairs (empty: all)", elem_id="judge-limit")
        max_tokens = gr.Number(value=128, precision=0, label="Longest rationale (tokens)", elem_id="judge-max-tokens")
        fast = gr.Checkbox(label="fast (label-only, no rationale)", elem_id="judge-fast")
        both = gr.Checkbox(label="both orders", value=False)
    with gr.Row():
        start = gr.Button("Judge", variant="primary", elem_id="judge-start")
        stop = gr.Button("Cancel", elem_id="judge-cancel")
    said = gr.Markdown(elem_id="judge-message")
    progress = gr.HTML(elem_id="judge-progress")

    on(start.click, bound(ctx, start_judging), [dataset, limit, fast, both, max_tokens], said, api_name="judge")
    on(stop.click, bound(ctx, cancel, kind=JobKind.JUDGE), outputs=said, api_name="judge_cancel")
    on(
        gr.Timer(1.0).tick,
        lambda: judging_status(ctx),
        outputs=progress,
        api_name="judge_progress",
    )
