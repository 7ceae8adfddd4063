"""`gram judge`, `evaluate`, `rank`: running the model over pairs."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path

import click
from tqdm import tqdm

from app.cli.group import backend_of, cli, database_of, guided_choice, known_dataset, settings_of
from app.cli.options import model_options
from core.backends import backend_settings
from core.judge.generative import JudgeOptions
from core.judge.ranking import METHODS
from core.model.spec import ModelSpec, guided_by_default
from core.model.versions import current_spec
from core.vocab import Protocol


@cli.command("judge")
@click.argument("dataset")
@model_options
@click.option("--both-orders", is_flag=True, help="Judge each pair in both orders and flag disagreements.")
@click.option(
    "--votes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="voting@k: k sampled rationales per order.",
)
@click.option("--fast", is_flag=True, help="GRAM's label-only protocol: no rationale, two forward passes.")
@click.option("--limit", type=click.IntRange(min=0), help="Judge at most this many pairs.")
@click.option(
    "--for-workers",
    is_flag=True,
    help="Do not judge here: split the pairs into batches of --batch-size that `gram worker JOB` "
    "processes (on any machine sharing the database) claim and judge together.",
)
@click.pass_context
def judge_command(
    ctx: click.Context,
    dataset: str,
    model: str | None,
    adapter: Path | None,
    backend: str | None,
    batch_size: int,
    max_new_tokens: int,
    guided: bool | None,
    both_orders: bool,
    votes: int,
    fast: bool,
    limit: int | None,
    for_workers: bool,
) -> None:
    """Judge a dataset's pairs with the model, storing each judgment as it completes.

    Pairs this model already judged are skipped, so an interrupted run resumes where it stopped.
    """
    from core.judge.run import run_judging
    from core.judge.work import JudgeRun

    db, settings = database_of(ctx), settings_of(ctx)
    chosen, _ = backend_settings(settings, backend)  # a wrong backend or endpoint is said before any model loads
    dataset = known_dataset(ctx, dataset)  # and an unknown dataset
    with db.session() as session:
        spec = current_spec(session, settings, model, str(adapter) if adapter else None)
    run = JudgeRun(
        dataset=dataset,
        protocol=_protocol(spec, fast),
        options=JudgeOptions(
            both_orders=both_orders,
            votes=votes,
            max_new_tokens=max_new_tokens,
            guided=guided_by_default(spec) if guided is None else guided,
        ),
        limit=limit,
        batch_size=batch_size,
    )
    if for_workers:  # the model loads in each worker, not here
        from core.judge.distributed import queue_for_workers

        job = queue_for_workers(db, spec, chosen, run, timeout_s=settings.job_timeout_s)
        click.echo(
            f"job {job.id} {job.status}: {(job.total or 0) - job.done} pairs to judge in batches of {batch_size}; "
            f"start workers with `gram worker {job.id}` (each loads {spec.name} on {chosen})"
        )
        return
    loaded = backend_of(ctx, model, adapter, backend, batch_size)
    job = run_judging(db, loaded, run, timeout_s=settings.job_timeout_s)
    click.echo(f"job {job.id} {job.status}: {job.done}/{job.total} pairs judged by {loaded.spec.name}")


@cli.command("evaluate")
@click.argument("dataset", required=False)
@click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path),
    help="Evaluate on a file instead of a dataset (nothing is stored).",
)
@model_options
@click.option("--fast", is_flag=True, help="Use the label-only fast path.")
@click.option("--both-orders", is_flag=True, help="Generative path: judge both orders (the fast path always does).")
@click.option("--limit", type=click.IntRange(min=0), help="Use the first N pairs with a reference label.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def evaluate_command(
    ctx: click.Context,
    dataset: str | None,
    file: Path | None,
    model: str | None,
    adapter: Path | None,
    backend: str | None,
    batch_size: int,
    max_new_tokens: int,
    guided: bool | None,
    fast: bool,
    both_orders: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Accuracy against reference labels (ties left out), per source, position consistency, ECE.

    On a dataset, pairs not yet judged by the model are judged (and stored) first.
    The last line of the plain output is `accuracy=<float> n=<int>`.
    """
    from core.evaluation.reports import evaluate_dataset, evaluate_file, read_for_evaluation

    if (dataset is None) == (file is None):
        raise click.UsageError("give a DATASET or --file PATH (one of them)")
    # The dataset or the file first: a bad one is refused before any model loads.
    records = read_for_evaluation(file, settings_of(ctx)) if file is not None else []
    dataset = known_dataset(ctx, dataset) if dataset is not None else None
    loaded = backend_of(ctx, model, adapter, backend, batch_size)
    protocol = _protocol(loaded.spec, fast)
    options = JudgeOptions(both_orders=both_orders, max_new_tokens=max_new_tokens, guided=guided_choice(loaded, guided))
    if dataset is not None:
        report = evaluate_dataset(
            database_of(ctx),
            loaded,
            dataset,
            protocol=protocol,
            options=options,
            limit=limit,
            batch_size=batch_size,
            timeout_s=settings_of(ctx).job_timeout_s,
        )
    else:
        fast = protocol == Protocol.LABEL_ONLY
        trained = _trained_keys(ctx, loaded.spec)
        report = evaluate_file(
            loaded, records, fast=fast, options=options, limit=limit, show_progress=True, trained=trained
        )
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else "\n".join(report.lines()))


@cli.command("rank")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@model_options
@click.option(
    "--method",
    type=click.Choice(list(METHODS)),
    default="knockout",
    show_default=True,
    help="best-of-n and knockout find the best (n-1 comparisons); sort ranks all.",
)
@click.option("--generative", is_flag=True, help="Compare with rationales (slow) instead of the fast path.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the rankings here (JSONL); default: print them.")
@click.pass_context
def rank_command(
    ctx: click.Context,
    file: Path,
    model: str | None,
    adapter: Path | None,
    backend: str | None,
    batch_size: int,
    max_new_tokens: int,
    guided: bool | None,
    method: str,
    generative: bool,
    out: Path | None,
) -> None:
    """Rank the responses of each JSONL row {prompt, responses: [...]} with pairwise comparisons."""
    from core.judge.ranking import backend_comparator, rank_all, read_rank_requests

    requests = read_rank_requests(file)  # a bad row is reported before any model loads
    loaded = backend_of(ctx, model, adapter, backend, batch_size)
    compare = backend_comparator(
        loaded,
        fast=not generative,
        options=JudgeOptions(both_orders=True, max_new_tokens=max_new_tokens, guided=guided_choice(loaded, guided)),
    )
    # Each ranking is written as soon as it is made (standard output carries only them); the bar
    # (rankings/s, ETA) goes to standard error.
    bar = tqdm(total=len(requests), unit="ranking", desc="ranking", file=sys.stderr)
    with open(out, "w", encoding="utf-8") if out else nullcontext(sys.stdout) as sink:
        for row in rank_all(requests, compare, method):
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            sink.flush()
            bar.update()
    bar.close()
    if out:
        click.echo(f"wrote {len(requests)} rankings to {out}", err=True)


def _trained_keys(ctx: click.Context, spec: ModelSpec) -> set[str]:
    """What the model's version in the store (and its ancestors) trained on; a model the store has
    no version of is evaluated on every pair, and the terminal says that what it trained on is unknown."""
    from core.model.lineage import trained_keys
    from core.model.versions import find_version

    with database_of(ctx).session() as session:
        version = find_version(session, spec)
        if version is None:
            if spec.head or spec.adapter:  # a base model trained on nothing of the store's
                click.echo(f"{spec.name} is not a version in this store: what it trained on is not left out", err=True)
            return set()
        return trained_keys(session, version.id)


def _protocol(spec: ModelSpec, fast: bool) -> Protocol:
    """`verdict_protocol`, saying so where a judge head chose the fast path."""
    from core.judge.work import verdict_protocol

    if spec.head and not fast:
        click.echo(f"{spec.name} has a judge head: its verdicts come from the fast path (--fast)", err=True)
    return verdict_protocol(spec, fast)
