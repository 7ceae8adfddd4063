"""The `gram` command line: thin commands over `core/`. Each docstring is the command's --help."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from core.errors import GramError
from core.settings import Settings, get_settings
from storage.database import Database

SHOWN_ERRORS = 50


class GramGroup(click.Group):
    """Turns GramError into a clean message and exit status 1 instead of a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except GramError as error:
            raise click.ClickException(str(error)) from error


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _database(ctx: click.Context) -> Database:
    if "db" not in ctx.obj:
        ctx.obj["db"] = Database(_settings(ctx).database_url)
        ctx.call_on_close(ctx.obj["db"].dispose)
    return ctx.obj["db"]


@click.group(name="gram", cls=GramGroup)
@click.option("--home", type=click.Path(path_type=Path), help="Data folder (default: GRAM_HOME).")
@click.option("--db-url", help="SQLAlchemy database URL (default: GRAM_DB_URL, else SQLite in the data folder).")
@click.version_option(package_name="gram-studio")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, db_url: str | None) -> None:
    """GRAM Studio: judge preference pairs with a GRAM-R² reward model, review, adapt."""
    overrides = {k: v for k, v in {"home": home, "db_url": db_url}.items() if v is not None}
    settings = get_settings().model_copy(update=overrides) if overrides else get_settings()
    ctx.obj = {"settings": settings}


def _parse_mapping(items: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for item in items:
        target, sep, source = item.partition("=")
        if not sep or not target or not source:
            raise click.BadParameter(f"'{item}' is not field=column", param_hint="--map")
        mapping[target.strip()] = source.strip()
    return mapping


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dataset", help="Dataset to add to (created if new; default: the first file's name).")
@click.option("--map", "mappings", multiple=True, metavar="FIELD=COLUMN",
              help="Read FIELD from COLUMN, overriding detection (repeatable), e.g. --map prompt=question.")
@click.option("--format", "format_name", help="Skip detection and read as this format.")
@click.option("--allow-empty", is_flag=True, help="Keep pairs with an empty response (rejected by default).")
@click.option("--report", type=click.Path(path_type=Path), help="Write every rejected row to this file.")
@click.pass_context
def import_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    dataset: str | None,
    mappings: tuple[str, ...],
    format_name: str | None,
    allow_empty: bool,
    report: Path | None,
) -> None:
    """Import preference pairs from files: JSONL, JSON, CSV, Parquet, Arrow, or a datasets folder.

    Recognised without being told: pairwise {prompt, response_a, response_b, label}; TRL
    preference {prompt, chosen, rejected} (text or messages) and its implicit-prompt form;
    Anthropic HH transcripts; N-response rankings; LLMBar, PandaLM and BIG-bench files; and
    GRAM Studio's own full dump. Importing the same rows again adds nothing.
    """
    from core.data.importer import import_files

    settings = _settings(ctx)
    with _database(ctx).session() as session:
        result = import_files(
            session,
            list(paths),
            dataset=dataset,
            mapping=_parse_mapping(mappings),
            format_name=format_name,
            allow_empty=allow_empty,
            max_bytes=settings.max_import_bytes,
            max_chars=settings.max_field_chars,
        )
    for file in result.files:
        click.echo(f"{file.path}: {file.format}, {file.rows} rows -> {file.pairs} pairs")
    for error in result.errors[:SHOWN_ERRORS]:
        click.echo(f"rejected {error}", err=True)
    if len(result.errors) > SHOWN_ERRORS or (report and result.errors):
        report = report or settings.home / "import-reports" / (
            f"{result.dataset}-{datetime.now():%Y%m%d-%H%M%S}.txt"
        )
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("".join(f"{error}\n" for error in result.errors), encoding="utf-8")
        click.echo(f"all {len(result.errors)} rejected rows are listed in {report}", err=True)
    click.echo(result.summary())


@cli.command("export")
@click.argument("dataset")
@click.option("--format", "fmt", type=click.Choice(["dpo", "sft", "jsonl"]), required=True,
              help="dpo: TRL prompt/chosen/rejected; sft: GRAM-R² rationale SFT; jsonl: full dump.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output file (.jsonl or .parquet).")
@click.option("--include-reference", is_flag=True,
              help="dpo: also use the source's reference label where no person reviewed the pair.")
@click.option("--conversational", is_flag=True, help="dpo: TRL's conversational (messages) form.")
@click.pass_context
def export_command(
    ctx: click.Context, dataset: str, fmt: str, out: Path, include_reference: bool, conversational: bool
) -> None:
    """Export a dataset as TRL DPO rows, GRAM-R² SFT rows, or a full dump that `gram import` reads."""
    from core.data.exporter import export_rows, write_rows

    with _database(ctx).session() as session:
        result = export_rows(
            session, dataset, fmt,  # type: ignore[arg-type]
            include_reference=include_reference, conversational=conversational,
        )
    write_rows(result.rows, out)
    click.echo(f"wrote {out}: {result.summary()}")


@cli.command("datasets")
@click.pass_context
def datasets_command(ctx: click.Context) -> None:
    """List datasets with their counts: pairs, judged, reviewed."""
    from core.datasets import list_datasets

    with _database(ctx).session() as session:
        summaries = list_datasets(session)
    if not summaries:
        click.echo("no datasets yet: `gram import FILE` or start the studio to load the demo")
        return
    width = max(len(s.name) for s in summaries)
    click.echo(f"{'dataset':<{width}}  {'pairs':>7}  {'judged':>7}  {'reviewed':>8}  created")
    for s in summaries:
        click.echo(
            f"{s.name:<{width}}  {s.pairs:>7}  {s.judged:>7}  {s.reviewed:>8}  {s.created_at:%Y-%m-%d %H:%M}"
        )


@cli.command("demo")
@click.pass_context
def demo_command(ctx: click.Context) -> None:
    """Load the demo dataset (LLMBar Natural and part of PandaLM) into an empty store."""
    from core.demo import seed_demo

    with _database(ctx).session() as session:
        report = seed_demo(session, _settings(ctx))
    click.echo(report.summary() if report else "the store already has datasets; demo not loaded")


def _judge_options(func):  # type: ignore[no-untyped-def]
    """The options every command that runs the model shares."""
    options = [
        click.option("--model", help="'embedded', a Hugging Face id or a folder "
                     "(default: the active model version, else GRAM_MODEL)."),
        click.option("--adapter", type=click.Path(path_type=Path), help="A LoRA adapter folder to apply."),
        click.option("--backend", type=click.Choice(["transformers", "vllm", "openai"]), help="Default: GRAM_BACKEND."),
        click.option("--batch-size", type=int, default=8, show_default=True),
        click.option("--max-new-tokens", type=int, default=512, show_default=True, help="Longest rationale."),
        click.option("--guided/--free", default=None,
                     help="Guided: the judge writes the format's headers and the model fills each section "
                          "(default for the untrained embedded model, which does not write the format itself)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load_backend(ctx: click.Context, model: str | None, adapter: Path | None, backend: str | None, batch_size: int):  # type: ignore[no-untyped-def]
    from core.backends import load_backend
    from core.model_versions import current_spec

    settings = _settings(ctx)
    with _database(ctx).session() as session:
        spec = current_spec(session, settings, model, str(adapter) if adapter else None)
    name = backend or settings.backend
    options: dict[str, object] = {"batch_size": batch_size}
    if name == "openai":
        if not settings.openai_base_url:
            raise GramError("the openai backend needs GRAM_OPENAI_BASE_URL (e.g. http://gpu-host:8000)")
        options.update(base_url=settings.openai_base_url, api_key=settings.openai_api_key)
    loaded = load_backend(name, spec, **options)
    ctx.call_on_close(loaded.close)
    return loaded


def _guided(loaded, guided: bool | None) -> bool:  # type: ignore[no-untyped-def]
    from core.models import guided_by_default

    return guided_by_default(loaded.spec) if guided is None else guided


@cli.command("judge")
@click.argument("dataset")
@_judge_options
@click.option("--both-orders", is_flag=True, help="Judge each pair in both orders and flag disagreements.")
@click.option("--votes", type=int, default=1, show_default=True, help="voting@k: k sampled rationales per order.")
@click.option("--fast", is_flag=True, help="GRAM's label-only protocol: no rationale, two forward passes.")
@click.option("--limit", type=int, help="Judge at most this many pairs.")
@click.pass_context
def judge_command(
    ctx: click.Context, dataset: str, model: str | None, adapter: Path | None, backend: str | None,
    batch_size: int, max_new_tokens: int, guided: bool | None, both_orders: bool, votes: int, fast: bool,
    limit: int | None,
) -> None:
    """Judge a dataset's pairs with the model, storing each judgment as it completes.

    Pairs this model already judged are skipped, so an interrupted run resumes where it stopped.
    """
    from core.judge import JudgeOptions
    from core.judging import JudgeRun, run_judging

    loaded = _load_backend(ctx, model, adapter, backend, batch_size)
    run = JudgeRun(
        dataset=dataset,
        protocol="label-only" if fast else "gram-r2",
        options=JudgeOptions(
            both_orders=both_orders, votes=votes, max_new_tokens=max_new_tokens, guided=_guided(loaded, guided)
        ),
        limit=limit,
        batch_size=batch_size,
    )
    job = run_judging(_database(ctx), loaded, run)
    click.echo(f"job {job.id} {job.status}: {job.done}/{job.total} pairs judged by {loaded.spec.name}")


@cli.command("evaluate")
@click.argument("dataset", required=False)
@click.option("--file", "file", type=click.Path(path_type=Path), help="Evaluate on a file instead of a dataset (nothing is stored).")
@_judge_options
@click.option("--fast", is_flag=True, help="Use the label-only fast path.")
@click.option("--both-orders", is_flag=True, help="Generative path: judge both orders (the fast path always does).")
@click.option("--limit", type=int, help="Use the first N pairs with a reference label.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def evaluate_command(
    ctx: click.Context, dataset: str | None, file: Path | None, model: str | None, adapter: Path | None,
    backend: str | None, batch_size: int, max_new_tokens: int, guided: bool | None, fast: bool,
    both_orders: bool, limit: int | None, as_json: bool,
) -> None:
    """Accuracy against reference labels (ties left out), per source, position consistency, ECE.

    On a dataset, pairs not yet judged by the model are judged (and stored) first.
    The last line of the plain output is `accuracy=<float> n=<int>`.
    """
    import json as json_module

    from core.evaluation import evaluate, evaluate_records, stored_scores
    from core.judge import JudgeOptions
    from core.judging import JudgeRun, run_judging

    if (dataset is None) == (file is None):
        raise click.UsageError("give a DATASET or --file PATH (one of them)")
    loaded = _load_backend(ctx, model, adapter, backend, batch_size)
    options = JudgeOptions(both_orders=both_orders, max_new_tokens=max_new_tokens, guided=_guided(loaded, guided))
    protocol = "label-only" if fast else "gram-r2"
    if dataset is not None:
        run = JudgeRun(dataset, protocol, options, limit=limit, batch_size=batch_size, labelled_only=True)
        job = run_judging(_database(ctx), loaded, run)
        with _database(ctx).session() as session:
            items = stored_scores(session, job.dataset_id, loaded.spec.name, protocol, limit=limit)
    else:
        from core.data.importer import parse_files

        settings = _settings(ctx)
        parsed = parse_files([file], max_bytes=settings.max_import_bytes, max_chars=settings.max_field_chars)
        items = evaluate_records(loaded, parsed.records, fast=fast, options=options, limit=limit)
    report = evaluate(items)
    if as_json:
        click.echo(json_module.dumps(report.as_dict(), indent=2))
    else:
        click.echo("\n".join(report.lines()))


@cli.command("rank")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_judge_options
@click.option("--method", type=click.Choice(["best-of-n", "knockout", "sort"]), default="knockout", show_default=True,
              help="best-of-n and knockout find the best (n-1 comparisons); sort ranks all.")
@click.option("--generative", is_flag=True, help="Compare with rationales (slow) instead of the fast path.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the rankings here (JSONL); default: print them.")
@click.pass_context
def rank_command(
    ctx: click.Context, file: Path, model: str | None, adapter: Path | None, backend: str | None,
    batch_size: int, max_new_tokens: int, guided: bool | None, method: str, generative: bool, out: Path | None,
) -> None:
    """Rank the responses of each JSONL row {prompt, responses: [...]} with pairwise comparisons."""
    import json as json_module

    from core.judge import JudgeOptions
    from core.ranking import METHODS, backend_comparator

    loaded = _load_backend(ctx, model, adapter, backend, batch_size)
    compare = backend_comparator(
        loaded,
        fast=not generative,
        options=JudgeOptions(both_orders=True, max_new_tokens=max_new_tokens, guided=_guided(loaded, guided)),
    )
    lines = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json_module.loads(line)
        if not isinstance(row.get("prompt"), str) or not isinstance(row.get("responses"), list) or len(row["responses"]) < 2:
            raise GramError(f"{file}: row {number}: needs 'prompt' (text) and 'responses' (a list of 2 or more)")
        ranking = METHODS[method](row["prompt"], row["responses"], compare)
        lines.append(json_module.dumps({
            "prompt": row["prompt"], "method": method, "ranking": ranking.order,
            "best": row["responses"][ranking.order[0]], "comparisons": ranking.comparisons, "rounds": ranking.rounds,
        }, ensure_ascii=False))
    if out:
        out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        click.echo(f"wrote {len(lines)} rankings to {out}")
    else:
        click.echo("\n".join(lines))


def _train_options(func):  # type: ignore[no-untyped-def]
    """Fine-tuning settings shared by adapt and selftrain (defaults: core.training.TrainConfig)."""
    from core.training import TrainConfig

    d = TrainConfig()
    options = [
        click.option("--method", type=click.Choice(["lora", "full"]), default=d.method, show_default=True),
        click.option("--objective", type=click.Choice(["rationale", "label-only", "both"]), default=d.objective,
                     show_default=True, help="Rationale targets, GRAM's label-only targets, or both."),
        click.option("--epochs", type=float, default=d.epochs, show_default=True),
        click.option("--max-steps", type=int, default=d.max_steps, show_default=True, help="> 0 overrides --epochs."),
        click.option("--lr", "learning_rate", type=float, default=d.learning_rate, show_default=True),
        click.option("--train-batch-size", "batch_size", type=int, default=d.batch_size, show_default=True),
        click.option("--grad-accum", type=int, default=d.grad_accum, show_default=True),
        click.option("--max-length", type=int, default=d.max_length, show_default=True, help="Tokens per example."),
        click.option("--lora-r", type=int, default=d.lora_r, show_default=True),
        click.option("--save-steps", type=int, default=d.save_steps, show_default=True,
                     help="Checkpoint (and validate) every N steps; a killed job resumes from the last one."),
        click.option("--no-swap", "swap", flag_value=False, default=True, help="No swap augmentation."),
        click.option("--seed", type=int, default=d.seed, show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _train_config(method: str, objective: str, epochs: float, max_steps: int, learning_rate: float, batch_size: int,
                  grad_accum: int, max_length: int, lora_r: int, save_steps: int, swap: bool, seed: int):  # type: ignore[no-untyped-def]
    from core.training import TrainConfig

    return TrainConfig(
        method=method, objective=objective, epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
        batch_size=batch_size, grad_accum=grad_accum, max_length=max_length, lora_r=lora_r, lora_alpha=2 * lora_r,
        save_steps=save_steps, swap_augment=swap, seed=seed,
    )


def _print_adaptation(job) -> None:  # type: ignore[no-untyped-def]
    result = job.result or {}
    if job.status != "succeeded":
        click.echo(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        return
    before, after = result["before"]["figures"], result["after"]["figures"]
    click.echo(f"held-out reviewed pairs: {after.get('n', 0)}   (trained on {result['train_pairs']})")
    if not after.get("n"):
        click.echo("no held-out reviewed pairs yet, so no before/after figures: review more pairs")
    click.echo(f"{'':22}{'before':>10}{'after':>10}")
    for name in ("accuracy", "position_consistency", "ece"):
        values = [f"{x:10.3f}" if isinstance(x, float) else f"{'-':>10}" for x in (before.get(name), after.get(name))]
        click.echo(f"{name:22}{values[0]}{values[1]}")
    click.echo(f"fixed: {result['fixed']}")
    click.echo(f"broken: {result['broken']}")
    click.echo(f"new model version: {result['version']} (inactive; `gram models activate {result['version']}`)")


@cli.command("adapt")
@click.argument("dataset")
@click.option("--holdout", type=float, default=0.25, show_default=True,
              help="Share of reviewed pairs held out for the before/after figures (a fixed split).")
@click.option("--prove/--no-prove", default=True, show_default=True,
              help="Write rationales for corrected labels that have none (else they train label-only).")
@_train_options
@click.pass_context
def adapt_command(ctx: click.Context, dataset: str, holdout: float, prove: bool, **train: object) -> None:
    """Fine-tune the active model on the dataset's reviewed pairs; report before/after on held-out ones.

    Runs as a job: progress goes to the store; a killed run resumes when the same command is run again.
    The result is a new model version, inactive until `gram models activate`.
    """
    from core.adaptation import AdaptConfig, run_adaptation, start_adaptation

    settings = _settings(ctx)
    config = AdaptConfig(dataset=dataset, holdout_fraction=holdout, prove_missing=prove, train=_train_config(**train))
    job_id = start_adaptation(_database(ctx), settings, config)
    _print_adaptation(run_adaptation(_database(ctx), settings, job_id))


@cli.command("selftrain")
@click.argument("dataset")
@click.option("--iterations", type=int, default=1, show_default=True)
@click.option("--pairs", "pairs_per_iteration", type=int, default=64, show_default=True,
              help="Fresh unreviewed pairs labelled per iteration.")
@click.option("--votes", type=int, default=4, show_default=True, help="Sampled labelling runs per pair.")
@click.option("--threshold", type=float, default=0.7, show_default=True, help="Lowest confidence kept.")
@click.option("--proofs", "proof_samples", type=int, default=4, show_default=True, help="Proofs sampled per label.")
@click.option("--max-rationale-tokens", type=int, default=256, show_default=True, help="The 'too long' rule.")
@click.option("--label-max-tokens", type=int, default=256, show_default=True, help="Longest labelling rationale.")
@click.option("--proof-max-tokens", type=int, default=256, show_default=True)
@click.option("--prover", help="Proving model (id or folder); default: the current model.")
@_train_options
@click.pass_context
def selftrain_command(
    ctx: click.Context, dataset: str, iterations: int, pairs_per_iteration: int, votes: int, threshold: float,
    proof_samples: int, max_rationale_tokens: int, label_max_tokens: int, proof_max_tokens: int,
    prover: str | None, **train: object,
) -> None:
    """GRAM-R²'s self-training: pseudo-label unreviewed pairs, keep confident ones with proofs, retrain.

    Each iteration's figures (kept/dropped per filter, pseudo-label accuracy where references exist)
    are printed and stored; the pseudo-labels are stored as judgments to browse and correct.
    """
    import json as json_module

    from core.selftrain import SelfTrainConfig, run_selftrain, start_selftrain

    settings = _settings(ctx)
    config = SelfTrainConfig(
        dataset=dataset, iterations=iterations, pairs_per_iteration=pairs_per_iteration, votes=votes,
        threshold=threshold, proof_samples=proof_samples, max_rationale_tokens=max_rationale_tokens,
        label_max_tokens=label_max_tokens, proof_max_tokens=proof_max_tokens, prover=prover,
        train=_train_config(**train),
    )
    job = run_selftrain(_database(ctx), settings, start_selftrain(_database(ctx), settings, config))
    for number, it in enumerate((job.result or {}).get("iterations", []), start=1):
        shown = {k: v for k, v in it.items() if k != "examples"}
        click.echo(f"iteration {number}: {json_module.dumps(shown)}")
    click.echo(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_group(ctx: click.Context) -> None:
    """List model versions (the active one marked *); subcommands activate and roll back."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select

    from storage.models import ModelVersion

    with _database(ctx).session() as session:
        for v in session.scalars(select(ModelVersion).order_by(ModelVersion.id)):
            after = (v.metrics or {}).get("after", {})
            accuracy = f"  held-out accuracy {after['accuracy']:.3f}" if after.get("n") else ""
            parent = f"  parent {v.parent_id}" if v.parent_id else ""
            click.echo(f"{'*' if v.is_active else ' '} {v.id:4} {v.name}{parent}{accuracy}")


@models_group.command("activate")
@click.argument("version")
@click.pass_context
def activate_command(ctx: click.Context, version: str) -> None:
    """Make VERSION (name or id) the model used when no --model is given."""
    from core.model_versions import activate, get_version

    with _database(ctx).session() as session:
        click.echo(f"active: {activate(session, get_version(session, version)).name}")


@models_group.command("rollback")
@click.pass_context
def rollback_command(ctx: click.Context) -> None:
    """Re-activate the active version's parent."""
    from core.model_versions import rollback

    with _database(ctx).session() as session:
        click.echo(f"active: {rollback(session).name}")


@cli.command("worker")
@click.argument("job_id", type=int)
@click.pass_context
def worker_command(ctx: click.Context, job_id: int) -> None:
    """Run (or resume) a queued training job by id: how the studio runs training outside its own process."""
    from core.workers import run_job

    job = run_job(_database(ctx), _settings(ctx), job_id, show_progress=True)
    click.echo(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))


@cli.command("cancel")
@click.argument("job_id", type=int)
@click.pass_context
def cancel_command(ctx: click.Context, job_id: int) -> None:
    """Ask a running job to stop (it stops after its current step)."""
    from core.jobs import request_cancel

    with _database(ctx).session() as session:
        request_cancel(session, job_id)
    click.echo(f"cancel requested for job {job_id}")


@cli.command("prepare-model")
@click.pass_context
def prepare_model_command(ctx: click.Context) -> None:
    """Convert the embedded model once into a local checkpoint (done on first use anyway)."""
    from core.embedded import embedded_checkpoint

    click.echo(embedded_checkpoint(_settings(ctx).models_dir))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
