"""`gram import`, `export`, `datasets`, `agreement`, `demo`: pairs in and out of the store, and
what people made of them."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.group import cli, database_of, known_dataset, settings_of
from core.data.importer import parse_mapping
from core.errors import GramError
from core.evaluation.trust import DEFAULT_ALPHA, DEFAULT_TARGET
from core.export.rows import EXPORT_FORMATS

SHOWN_ERRORS = 50


def _mapping(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> dict[str, str]:
    """--map values, checked where they are given."""
    return parse_mapping(items)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dataset", help="Dataset to add to (created if new; default: the first file's name).")
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="FIELD=COLUMN",
    callback=_mapping,
    help="Read FIELD from COLUMN, overriding detection (repeatable), e.g. --map prompt=question.",
)
@click.option("--format", "format_name", help="Skip detection and read as this format.")
@click.option("--allow-empty", is_flag=True, help="Keep pairs with an empty response (rejected by default).")
@click.option("--report", type=click.Path(path_type=Path), help="Write every rejected row to this file.")
@click.pass_context
def import_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    dataset: str | None,
    mapping: dict[str, str],
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
    from core.data.importer import import_files, write_error_report

    settings = settings_of(ctx)
    with database_of(ctx).session() as session:
        result = import_files(
            session,
            list(paths),
            dataset=dataset,
            mapping=mapping,
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
        written = write_error_report(result, report, settings.home / "import-reports")
        click.echo(f"all {len(result.errors)} rejected rows are listed in {written}", err=True)
    click.echo(result.summary())
    if result.imported == 0 and result.duplicates == 0 and result.errors:
        raise GramError(f"no pair imported: all {len(result.errors)} rows were rejected")


@cli.command("export")
@click.argument("dataset")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    required=True,
    help="dpo: TRL prompt/chosen/rejected; sft: GRAM-R² rationale SFT; jsonl: full dump.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file: .jsonl (JSON Lines), .json (one array) or .parquet.",
)
@click.option(
    "--include-reference",
    is_flag=True,
    help="dpo: also use the source's reference label where no person reviewed the pair.",
)
@click.option("--conversational", is_flag=True, help="dpo: TRL's conversational (messages) form.")
@click.option(
    "--trusted-judge",
    is_flag=True,
    help="dpo: also take the judge's label on unreviewed pairs at or above its trust threshold (`gram trust`).",
)
@click.option(
    "--target", type=float, default=DEFAULT_TARGET, show_default=True, help="--trusted-judge: `gram trust --target`."
)
@click.option(
    "--alpha", type=float, default=DEFAULT_ALPHA, show_default=True, help="--trusted-judge: `gram trust --alpha`."
)
@click.pass_context
def export_command(
    ctx: click.Context,
    dataset: str,
    fmt: str,
    out: Path,
    include_reference: bool,
    conversational: bool,
    trusted_judge: bool,
    target: float,
    alpha: float,
) -> None:
    """Export a dataset as TRL DPO rows, GRAM-R² SFT rows, or a full dump that `gram import` reads."""
    from core.evaluation.trust import check_levels, dataset_trust
    from core.export.rows import export_rows, write_rows

    if trusted_judge and fmt != "dpo":
        raise click.UsageError("--trusted-judge goes with --format dpo")
    check_levels(target, alpha)
    with database_of(ctx).session() as session:
        threshold = None
        if trusted_judge:
            trust = dataset_trust(session, known_dataset(ctx, dataset), target, alpha)
            if trust.threshold is None:
                raise GramError(f"--trusted-judge: {trust.verdict}")
            threshold = trust.threshold
            click.echo(f"trust threshold {threshold:.3f} (lower bound {trust.lower_bound:.3f})", err=True)
        result = export_rows(
            session,
            dataset,
            fmt,  # type: ignore[arg-type]
            include_reference=include_reference,
            conversational=conversational,
            trusted_judge=threshold,
        )
    write_rows(result.rows, out)
    click.echo(f"wrote {out}: {result.summary()}")


@cli.command("datasets")
@click.pass_context
def datasets_command(ctx: click.Context) -> None:
    """List datasets with their counts: pairs, judged, reviewed."""
    from core.data.datasets import list_datasets

    with database_of(ctx).session() as session:
        summaries = list_datasets(session)
    if not summaries:
        click.echo("no datasets yet: `gram import FILE` or start the studio to load the demo")
        return
    width = max(len(s.name) for s in summaries)
    click.echo(f"{'dataset':<{width}}  {'pairs':>7}  {'judged':>7}  {'reviewed':>8}  created")
    for s in summaries:
        click.echo(f"{s.name:<{width}}  {s.pairs:>7}  {s.judged:>7}  {s.reviewed:>8}  {s.created_at:%Y-%m-%d %H:%M}")


@cli.command("agreement")
@click.argument("dataset")
@click.pass_context
def agreement_command(ctx: click.Context, dataset: str) -> None:
    """How well the dataset's reviewers agree, and the pairs they disagree on."""
    from core.review.agreement import team_agreement

    with database_of(ctx).session() as session:
        team = team_agreement(session, dataset)
    if not team.reviewers:
        click.echo(f"nobody has reviewed {dataset} yet")
        return
    click.echo(f"reviewers: {', '.join(team.reviewers)}")
    for a, b, kappa in team.kappas:
        click.echo(f"Cohen's kappa, {a} and {b}: {kappa.shown()}")
    if len(team.reviewers) > 1:
        click.echo(f"Krippendorff's alpha, everyone: {team.alpha.shown()}")
    for person in team.people:
        click.echo(
            f"{person.reviewer}: {person.labelled} labelled; with the others {person.with_others.shown()}; "
            f"with the model {person.with_model.shown()}"
        )
    ids = [str(d.pair_id) for d in team.disagreements]
    click.echo(
        f"disagreements: {len(ids)}"
        + (f" (pairs {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''})" if ids else "")
    )


@cli.command("demo")
@click.pass_context
def demo_command(ctx: click.Context) -> None:
    """Load the demo dataset (LLMBar Natural and part of PandaLM) into an empty store."""
    from core.data.demo import seed_demo

    with database_of(ctx).session() as session:
        report = seed_demo(session, settings_of(ctx))
    click.echo(report.summary() if report else "the store already has datasets; demo not loaded")


@cli.command("prepare-model")
@click.pass_context
def prepare_model_command(ctx: click.Context) -> None:
    """Convert the embedded model once into a local checkpoint (done on first use anyway)."""
    from core.model.embedded import embedded_checkpoint

    click.echo(embedded_checkpoint(settings_of(ctx).models_dir))
