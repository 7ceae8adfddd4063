"""`gram adapt`, `selftrain`, `models`, `worker`, `cancel`: training jobs and the versions they make."""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.group import cli, database_of, known_dataset, settings_of
from app.cli.options import config_from, options_from
from core.evaluation.comparison import BeforeAfter
from core.jobs.lifecycle import JobView
from core.train.config import ADAPT_METHOD, AdaptConfig, SelfTrainConfig, TrainConfig
from core.vocab import BackendName, JobStatus

TRAIN, ADAPT, SELFTRAIN = "train__", "adapt__", "selftrain__"  # option-name prefixes per config


def _figure(figures: dict[str, Any], name: str) -> str:
    value = figures.get(name)
    if isinstance(value, float):
        return f"{value:10.3f}"
    if name == "position_consistency" and figures.get("consistent_by_construction"):
        return f"{'by constr.':>10}"
    return f"{'-':>10}"


def _print_adaptation(job: JobView) -> None:
    result = job.result
    if job.status != JobStatus.SUCCEEDED:
        click.echo(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        return
    before, after = result["before"]["figures"], result["after"]["figures"]
    click.echo(f"held-out reviewed pairs: {after.get('n', 0)}   (trained on {result['train_pairs']})")
    if result.get("left_out_pairs"):
        click.echo(f"left out of the held-out figures: {result['left_out_pairs']} pairs an ancestor model trained on")
    click.echo(f"{'':22}{'before':>10}{'after':>10}")
    for name in ("accuracy", "position_consistency", "ece"):
        values = [_figure(f, name) for f in (before, after)]
        click.echo(f"{name:22}{values[0]}{values[1]}")
    if after.get("consistent_by_construction"):
        click.echo("  (a judge head's two orders agree by construction: its position consistency is not measured)")
    click.echo(f"fixed: {result['fixed']}")
    click.echo(f"broken: {result['broken']}")
    if "comparison" in result:
        for line in BeforeAfter(**result["comparison"]).lines():
            click.echo(line)
    click.echo(f"new model version: {result['version']} (inactive; `gram models activate {result['version']}`)")


@cli.command("adapt")
@click.argument("dataset")
@options_from(AdaptConfig, ADAPT)
@options_from(TrainConfig, TRAIN, defaults={"method": ADAPT_METHOD})
@click.pass_context
def adapt_command(ctx: click.Context, dataset: str, **options: Any) -> None:
    """Adapt the active model to the dataset's reviewed pairs; report before/after on held-out ones.

    By default a judge head is fitted (seconds; the fast path's verdict); --method lora or full fine-tunes.

    Runs as a job: progress goes to the store; a killed run resumes when the same command is run again.
    The result is a new model version, inactive until `gram models activate`.
    """
    from core.train.adaptation import run_adaptation, start_adaptation

    settings = settings_of(ctx)
    train = config_from(TrainConfig, options, TRAIN)
    config = config_from(AdaptConfig, options, ADAPT, dataset=dataset, train=train)
    job_id = start_adaptation(database_of(ctx), settings, config)
    _print_adaptation(JobView.of(run_adaptation(database_of(ctx), settings, job_id)))


@cli.command("selftrain")
@click.argument("dataset")
@options_from(SelfTrainConfig, SELFTRAIN)
@options_from(TrainConfig, TRAIN)
@click.pass_context
def selftrain_command(ctx: click.Context, dataset: str, **options: Any) -> None:
    """GRAM-R²'s self-training: pseudo-label unreviewed pairs, keep confident ones with proofs, retrain.

    Each iteration's figures (kept/dropped per filter, pseudo-label accuracy where references exist)
    are printed and stored; the pseudo-labels are stored as judgments to browse and correct.
    """
    from core.train.selftrain import run_selftrain, start_selftrain

    settings = settings_of(ctx)
    train = config_from(TrainConfig, options, TRAIN)
    config = config_from(SelfTrainConfig, options, SELFTRAIN, dataset=dataset, train=train)
    job = run_selftrain(database_of(ctx), settings, start_selftrain(database_of(ctx), settings, config))
    for number, it in enumerate((job.result or {}).get("iterations", []), start=1):
        shown = {k: v for k, v in it.items() if k != "examples"}
        click.echo(f"iteration {number}: {json.dumps(shown)}")
    click.echo(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_group(ctx: click.Context) -> None:
    """List model versions (the active one marked *); subcommands activate and roll back."""
    if ctx.invoked_subcommand is not None:
        return
    from core.model.versions import list_versions

    with database_of(ctx).session() as session:
        for version in list_versions(session):
            click.echo(version.line())


@models_group.command("activate")
@click.argument("version")
@click.pass_context
def activate_command(ctx: click.Context, version: str) -> None:
    """Make VERSION (name or id) the model used when no --model is given."""
    from core.model.versions import activate, get_version

    with database_of(ctx).session() as session:
        click.echo(f"active: {activate(session, get_version(session, version)).name}")


@models_group.command("default")
@click.pass_context
def default_command(ctx: click.Context) -> None:
    """Install the judge shipped with GRAM Studio (a head of the embedded model) and activate it."""
    from core.head.default_judge import SHIPPED, default_judge, holds_off_its_sources, shipped_figures
    from core.model.versions import activate

    with database_of(ctx).session() as session:
        version = activate(session, default_judge(session, settings_of(ctx)))
        click.echo(f"active: {version.name}")
    figures = shipped_figures() or {}
    if not holds_off_its_sources(figures):
        click.echo(
            "note: leave-one-source-out found it below the untrained model on sources it did not train on "
            f"(a new dataset is such a source; {SHIPPED / 'README.md'}): trust its verdicts only after "
            "`gram trust` or an adaptation on your own reviews",
            err=True,
        )


@models_group.command("rollback")
@click.pass_context
def rollback_command(ctx: click.Context) -> None:
    """Re-activate the active version's parent."""
    from core.model.versions import rollback

    with database_of(ctx).session() as session:
        click.echo(f"active: {rollback(session).name}")


@cli.command("worker")
@click.argument("job_id", type=int)
@click.option("--backend", type=click.Choice(list(BackendName)), help="Judging jobs: the backend to judge on here.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Judging jobs: the backend's batch."
)
@click.pass_context
def worker_command(ctx: click.Context, job_id: int, backend: str | None, batch_size: int) -> None:
    """Run a job by id: resume a queued training job (how the studio trains outside its own process),
    or join a judging job split for workers (`gram judge --for-workers`) and judge its batches
    until none is left; any number of workers may join one judging job."""
    from core.worker.process import WorkerOptions, run_job

    db, settings = database_of(ctx), settings_of(ctx)
    click.echo(run_job(db, settings, job_id, WorkerOptions(backend, batch_size)).summary)


@cli.command("cancel")
@click.argument("job_id", type=int)
@click.pass_context
def cancel_command(ctx: click.Context, job_id: int) -> None:
    """Ask a running job to stop (it stops after its current step)."""
    from core.jobs.cancel import request_cancel

    with database_of(ctx).session() as session:
        ended = request_cancel(session, job_id).status == JobStatus.CANCELLED
    click.echo(f"job {job_id} cancelled (its runner had stopped)" if ended else f"cancel requested for job {job_id}")


@cli.command("instant")
@click.argument("dataset")
@click.option("--reviewer", default="", help="Whose reviews the live figure counts (default: everyone's).")
@click.option("--keep", is_flag=True, help="Also make the instant judge a model version (inactive).")
@click.pass_context
def instant_command(ctx: click.Context, dataset: str, reviewer: str, keep: bool) -> None:
    """Refit DATASET's instant judge (a head on the features `gram judge --fast` kept) from its reviews
    now, and show how often it agreed with the reviews it had not trained on."""
    from core.head.features import base_version_id
    from core.head.instant import keep_instant, live_figures, refit
    from core.model.versions import current_spec

    db, settings = database_of(ctx), settings_of(ctx)
    dataset = known_dataset(ctx, dataset)
    with db.session() as session:
        spec = current_spec(session, settings)
    fit = refit(db, dataset, base_version_id(db, spec))
    if fit.reason:
        click.echo(f"no instant judge: {fit.reason}")
    else:
        click.echo(f"fitted on {fit.trained_on} reviewed pairs in {fit.fit_s:.2f} s; scored {fit.scored} other pairs")
    if fit.reviews_without_features:
        click.echo(f"{fit.reviews_without_features} reviewed pairs have no features yet: `gram judge {dataset} --fast`")
    with db.session() as session:
        click.echo(live_figures(session, dataset, reviewer).markdown().replace("**", "").replace("  \n", "\n"))
    if keep:
        click.echo(f"made version {keep_instant(db, settings, dataset, spec)} (inactive: `gram models activate`)")
