"""The Adapt tab: adapt the active model to the reviewed pairs with one click, see before/after on
held-out pairs, activate or roll back; and GRAM-R²'s self-training from the same page.

Training runs in a worker process (core/worker/process.py), never in the web server; the page
reads the job record on a timer. The form's defaults are the configs' (core/train/config.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import gradio as gr

from app.context import StudioContext
from app.handlers import bound, on, reviewer_name
from app.pages.adapt.view import adapt_result, few_held_out, loss_points, pair_list, selftrain_result
from app.pages.judge import cancel
from app.plots import loss_svg
from app.render import literal, progress_html
from app.widgets import dataset_dropdown, header_text
from core.access.roles import Action
from core.errors import GramError
from core.evaluation.comparison import BeforeAfter
from core.jobs.lifecycle import job_view, latest_job
from core.model.versions import (
    activate,
    activate_job_result,
    active_version,
    get_version,
    list_versions,
    rollback,
    rollback_target,
)
from core.stats.intervals import MIN_VERDICT_PAIRS
from core.train.adaptation import start_adaptation
from core.train.config import ADAPT_METHOD, AdaptConfig, Method, Objective, SelfTrainConfig, TrainConfig
from core.train.selftrain import start_selftrain
from core.train.split import plan_adaptation
from core.vocab import JobKind
from core.worker.process import start_worker

TRAIN = TrainConfig()


def _default(config: type, name: str) -> Any:
    """A config field's default (the form starts where `gram adapt` / `gram selftrain` do)."""
    return next(f.default for f in dataclasses.fields(config) if f.name == name)


def plan_text(ctx: StudioContext, dataset: str, holdout: float) -> str:
    if not dataset:
        return "Choose a dataset."
    with ctx.db.session() as session:
        active = active_version(session)
        plan = plan_adaptation(session, dataset, holdout, active.id if active else None)
        model = active.name if active else ctx.spec().name
    left_out = f" ({plan.left_out} more left out: the model or an ancestor trained on them)" if plan.left_out else ""
    held = pair_list([p.pair_id for p in plan.held_out])
    return (
        f"**{len(plan.train)}** reviewed pairs will train ({plan.need_proof} need a written rationale from the "
        f"proving step); **{len(plan.held_out)}** are held out for the before/after figures{left_out}"
        f"{': ' + held if held else ''}. Model: **{literal(model)}**.{few_held_out(len(plan.held_out))}"
    )


def start_adapt(
    ctx: StudioContext,
    dataset: str,
    holdout: float,
    objective: str,
    max_steps: float,
    epochs: float,
    max_length: float,
    prove: bool,
    method: str = ADAPT_METHOD,
    user: str = "local",
) -> tuple[int, str]:
    if not dataset:
        raise GramError("choose a dataset to adapt to")
    ctx.team.require(user, Action.TRAIN)
    train = TrainConfig(
        method=cast(Method, method),
        objective=cast(Objective, objective),
        max_steps=int(max_steps or -1),
        epochs=float(epochs),
        max_length=int(max_length),
    )
    config = AdaptConfig(dataset, holdout, prove_missing=prove, train=train)
    job_id = start_adaptation(ctx.db, ctx.settings, config, owner=user)
    start_worker(ctx.db, ctx.settings, job_id)
    return job_id, f"Adaptation job {job_id} started in a worker process."


def start_self_training(
    ctx: StudioContext,
    dataset: str,
    iterations: float,
    pairs: float,
    votes: float,
    threshold: float,
    max_steps: float = -1,
    epochs: float = TRAIN.epochs,
    user: str = "local",
) -> tuple[int, str]:
    if not dataset:
        raise GramError("choose a dataset to self-train on")
    ctx.team.require(user, Action.TRAIN)
    config = SelfTrainConfig(
        dataset,
        iterations=int(iterations),
        pairs_per_iteration=int(pairs),
        votes=int(votes),
        threshold=float(threshold),
        train=TrainConfig(max_steps=int(max_steps or -1), epochs=float(epochs)),
    )
    job_id = start_selftrain(ctx.db, ctx.settings, config, owner=user)
    start_worker(ctx.db, ctx.settings, job_id)
    return job_id, f"Self-training job {job_id} started in a worker process."


def versions_text(ctx: StudioContext) -> str:
    """Every model version with its kind and held-out figure (n and 95% interval)."""
    with ctx.db.session() as session:
        versions = list_versions(session)
    lines = []
    for v in versions:
        figure = ""
        if v.held_out_accuracy is not None and v.held_out_n:
            ci = f", 95% CI {v.held_out_ci[0]:.2f}–{v.held_out_ci[1]:.2f}" if v.held_out_ci else ""
            few = "; too few to tell" if v.held_out_n < MIN_VERDICT_PAIRS else ""
            figure = f" · held-out accuracy {v.held_out_accuracy:.3f} (n = {v.held_out_n}{ci}{few})"
        parent = f" · parent {v.parent_id}" if v.parent_id else ""
        lines.append(f"- {'**active** ' if v.is_active else ''}{literal(v.name)} [{v.kind}]{parent}{figure}")
    return "Model versions:\n" + ("\n".join(lines) or "- none yet")


def activate_new(ctx: StudioContext, job_id: int | None, user: str = "local") -> str:
    """Activate what the page's adaptation job made (or, after a reload, the latest one)."""
    ctx.team.require(user, Action.ACTIVATE)
    with ctx.db.session() as session:
        job = latest_job(session, JobKind.ADAPT, job_id)
        if job is None:
            raise GramError("no adaptation to activate yet")
        return f"Active: **{literal(activate_job_result(session, job).name)}**"


def roll_back(ctx: StudioContext, user: str = "local") -> str:
    ctx.team.require(user, Action.ROLLBACK)
    with ctx.db.session() as session:
        return f"Active: **{literal(rollback(session).name)}**"


def confirm_text(ctx: StudioContext, job_id: int | None, user: str = "local") -> str:
    """What activating would change, for the person to confirm."""
    ctx.team.require(user, Action.ACTIVATE)
    with ctx.db.session() as session:
        job = latest_job(session, JobKind.ADAPT, job_id)
        active = active_version(session)
    made = (job.result or {}).get("version") if job is not None else None
    if job is None or not made:
        raise GramError("no adaptation to activate yet")
    now = active.name if active else ctx.spec().name
    return (
        f"Activate **{literal(made)}** for everyone using this studio? It replaces **{literal(now)}** "
        "for judging, the fast path and the next adaptation (a roll back returns to it).\n\n"
        + regression_check(job.config, job.result or {}, active.id if active else None, now)
    )


def regression_check(config: dict[str, Any], result: dict[str, Any], active_id: int | None, active_name: str) -> str:
    """`gram check`'s test, said before activating: an adaptation job's held-out comparison (its
    `config` and `result`) is that test when it measured the new version against the active one
    (its parent); else where to run it."""
    if "comparison" not in result:
        return "*No held-out comparison to check against (the job has none).*"
    c = BeforeAfter(**result["comparison"])
    if config.get("parent_version") != active_id:
        return (
            f"*The job compared it with the version it was trained from, not the active **{literal(active_name)}**: "
            f"`gram check {literal(config.get('adapt', {}).get('dataset', 'DATASET'))} "
            f"{literal(result.get('version'))}` compares the two.*"
        )
    head = "**Significantly worse than the active version.** " if c.worse else "Regression check: "
    return (
        f"{head}on {c.n} held-out pairs neither trained on: {literal(c.verdict)} · fixed {c.fixed}, "
        f"broken {c.broken} (McNemar p = {c.p_value:.3g})."
    )


def adapt_progress(ctx: StudioContext, job_id: int | None) -> list[Any]:
    """[progress bar, before/after table, result lines, loss chart] of the page's adaptation job."""
    job = job_view(ctx.db, JobKind.ADAPT, job_id)
    with ctx.db.session() as session:
        active = active_version(session)
    table, text = adapt_result(job, active.id if active else None)
    return [progress_html(job), table, text, loss_svg(loss_points(job))]


def ask_activate(ctx: StudioContext, job_id: int | None, *, user: str) -> list[Any]:
    return [confirm_text(ctx, job_id, user), gr.Row(visible=True), ("job", None)]


def ask_version(ctx: StudioContext, name: str | None, *, user: str) -> list[Any]:
    """[question, confirmation row, pending]: activating any version (the default judge after a roll
    back, an older adaptation) is asked first, like an adaptation's."""
    ctx.team.require(user, Action.ACTIVATE)
    if not name:
        raise GramError("choose a version to activate")
    with ctx.db.session() as session:
        chosen, active = get_version(session, name), active_version(session)
        chosen_name = chosen.name
    now = active.name if active else ctx.spec().name
    question = (
        f"Activate **{literal(chosen_name)}** for everyone using this studio? It replaces **{literal(now)}** for "
        "judging, the fast path and the next adaptation. `gram check DATASET VERSION` compares the two first."
    )
    return [question, gr.Row(visible=True), ("version", chosen_name)]


def ask_rollback(ctx: StudioContext, *, user: str) -> list[Any]:
    """[question, confirmation row, pending]: a roll back changes the judge for everyone: asked first."""
    ctx.team.require(user, Action.ROLLBACK)
    with ctx.db.session() as session:
        names = rollback_target(session)
    if names is None:
        raise GramError("nothing to roll back to: the active model has no parent version")
    question = f"Roll back from **{literal(names[0])}** to **{literal(names[1])}** for everyone using this studio?"
    return [question, gr.Row(visible=True), ("rollback", None)]


def confirmed(
    ctx: StudioContext, pending: tuple[str, str | None] | None, job_id: int | None, request: gr.Request
) -> list[Any]:
    """Do what the confirmation row asked about (an activation or a roll back)."""
    user = reviewer_name(request)
    action, name = pending or ("job", None)
    if action == "rollback":
        return model_changed(ctx, roll_back(ctx, user), job_id, request)
    if action == "version" and name:
        ctx.team.require(user, Action.ACTIVATE)
        with ctx.db.session() as session:
            message = f"Active: **{literal(activate(session, get_version(session, name)).name)}**"
        return model_changed(ctx, message, job_id, request)
    return model_changed(ctx, activate_new(ctx, job_id, user), job_id, request)


def version_names(ctx: StudioContext) -> dict[str, Any]:
    with ctx.db.session() as session:
        names = [v.name for v in list_versions(session)]
    return gr.update(choices=names, value=None)


def model_changed(ctx: StudioContext, message: str, job_id: int | None, request: gr.Request | None) -> list[Any]:
    """After an activation or a roll back: [message, header, versions, result lines, hidden
    confirmation], all at once."""
    text = adapt_progress(ctx, job_id)[2]
    return [message, header_text(ctx, request), versions_text(ctx), text, gr.Row(visible=False)]


def selftrain_progress(ctx: StudioContext, job_id: int | None) -> list[Any]:
    job = job_view(ctx.db, JobKind.SELFTRAIN, job_id)
    return [progress_html(job), selftrain_result(job)]


def build(ctx: StudioContext, studio: gr.Blocks, header: gr.Markdown) -> None:
    job_state = gr.State(None)
    with gr.Row():
        dataset = dataset_dropdown(ctx, studio, "adapt_datasets", label="Dataset", elem_id="adapt-dataset")
        holdout = gr.Slider(
            0.1,
            0.5,
            value=_default(AdaptConfig, "holdout_fraction"),
            step=0.05,
            label="held-out share of reviewed pairs",
        )
    plan = gr.Markdown(elem_id="adapt-plan")
    method = gr.Radio(
        [
            ("fine-tune (LoRA; minutes)", "lora"),
            ("judge head (seconds; the fast path)", "head"),
            ("full fine-tune", "full"),
        ],
        value=ADAPT_METHOD,
        label="how to adapt",
        elem_id="adapt-method",
    )
    with gr.Accordion("Training settings", open=False), gr.Row():
        objective = gr.Radio(["both", "rationale", "label-only"], value=TRAIN.objective, label="objective")
        max_steps = gr.Number(
            value=TRAIN.max_steps, precision=0, label="max steps (-1: use epochs)", elem_id="adapt-steps"
        )
        epochs = gr.Number(value=TRAIN.epochs, label="epochs")
        max_length = gr.Number(
            value=TRAIN.max_length, precision=0, label="max tokens per example", elem_id="adapt-max-length"
        )
        prove = gr.Checkbox(
            value=_default(AdaptConfig, "prove_missing"),
            label="write rationales for corrected labels",
            elem_id="adapt-prove",
        )
    with gr.Row():
        start = gr.Button("Adapt the model", variant="primary", elem_id="adapt-start")
        stop = gr.Button("Cancel", elem_id="adapt-cancel")
    said = gr.Markdown(elem_id="adapt-message")
    progress = gr.HTML(elem_id="adapt-progress")
    loss_chart = gr.HTML(label="Training loss", elem_id="adapt-loss")
    result = gr.Dataframe(interactive=False, label="Held-out reviewed pairs: before / after", elem_id="adapt-result")
    lists = gr.Markdown(elem_id="adapt-lists")
    with gr.Row():
        activate_button = gr.Button("Activate the new version", elem_id="adapt-activate")
        rollback_button = gr.Button("Roll back", elem_id="adapt-rollback")
        version_pick = gr.Dropdown(choices=[], label="or any version", elem_id="version-pick", scale=2)
        activate_pick = gr.Button("Activate this version", elem_id="version-activate")
    # Activation and roll back change the judge for everyone: asked first.
    pending = gr.State(None)  # ("job" | "version" | "rollback", version name)
    with gr.Row(visible=False) as confirm_row:
        confirm_question = gr.Markdown(elem_id="adapt-confirm-text")
        confirm_button = gr.Button("Yes", variant="primary", elem_id="adapt-confirm", scale=0)
        keep_button = gr.Button("No, keep the current one", elem_id="adapt-keep", scale=0)
    versions = gr.Markdown(elem_id="model-versions")
    on(studio.load, bound(ctx, versions_text), outputs=versions, api_name="versions")
    on(studio.load, bound(ctx, version_names), outputs=version_pick, api_name="version_names")

    on(dataset.change, bound(ctx, plan_text), [dataset, holdout], plan, api_name="adapt_plan")
    on(holdout.change, bound(ctx, plan_text), [dataset, holdout], plan, api_name="adapt_plan_holdout")
    on(
        start.click,
        bound(ctx, start_adapt),
        [dataset, holdout, objective, max_steps, epochs, max_length, prove, method],
        [job_state, said],
        api_name="adapt",
    )

    on(stop.click, bound(ctx, cancel, kind=JobKind.ADAPT), job_state, said, api_name="adapt_cancel")
    ticked = [progress, result, lists, loss_chart]
    on(gr.Timer(1.0).tick, bound(ctx, adapt_progress), job_state, ticked, api_name="adapt_progress")
    asking = [confirm_question, confirm_row, pending]
    on(activate_button.click, bound(ctx, ask_activate), job_state, asking, api_name="activate_ask")
    on(activate_pick.click, bound(ctx, ask_version), version_pick, asking, api_name="activate_version_ask")
    on(rollback_button.click, bound(ctx, ask_rollback), None, asking, api_name="rollback_ask")
    on(keep_button.click, lambda: gr.Row(visible=False), None, confirm_row, api_name="activate_keep")
    model_outputs = [said, header, versions, lists, confirm_row]
    changing = on(confirm_button.click, bound(ctx, confirmed), [pending, job_state], model_outputs, api_name="activate")
    on(changing.then, bound(ctx, version_names), outputs=version_pick, api_name="version_names_after")

    gr.Markdown("### Self-training\nLabel unreviewed pairs with votes, keep confident ones with proofs, retrain.")
    st_state = gr.State(None)
    with gr.Row():
        iterations = gr.Number(value=_default(SelfTrainConfig, "iterations"), precision=0, label="iterations")
        pairs = gr.Number(
            value=_default(SelfTrainConfig, "pairs_per_iteration"), precision=0, label="pairs per iteration"
        )
        votes = gr.Number(value=_default(SelfTrainConfig, "votes"), precision=0, label="votes")
        threshold = gr.Slider(
            0.5, 1.0, value=_default(SelfTrainConfig, "threshold"), step=0.05, label="confidence threshold"
        )
    with gr.Row():
        st_steps = gr.Number(
            value=TRAIN.max_steps, precision=0, label="max steps per retraining (-1: use epochs)", elem_id="st-steps"
        )
        st_epochs = gr.Number(value=TRAIN.epochs, label="epochs per retraining", elem_id="st-epochs")
    with gr.Row():
        st_start = gr.Button("Self-train", elem_id="selftrain-start")
        st_stop = gr.Button("Cancel", elem_id="selftrain-cancel")
    st_said = gr.Markdown(elem_id="selftrain-message")
    st_progress = gr.HTML(elem_id="selftrain-progress")
    st_table = gr.Dataframe(interactive=False, label="Iterations")

    on(
        st_start.click,
        bound(ctx, start_self_training),
        [dataset, iterations, pairs, votes, threshold, st_steps, st_epochs],
        [st_state, st_said],
        api_name="selftrain",
    )

    on(st_stop.click, bound(ctx, cancel, kind=JobKind.SELFTRAIN), st_state, st_said, api_name="selftrain_cancel")
    st_ticked = [st_progress, st_table]
    on(gr.Timer(2.0).tick, bound(ctx, selftrain_progress), st_state, st_ticked, api_name="selftrain_progress")
