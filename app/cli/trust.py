"""`gram trust`, `check` and `estimate`: how far a team may rely on its judge, from its people's reviews."""

from __future__ import annotations

import json

import click

from app.cli.group import cli, database_of, known_dataset, settings_of
from core.errors import GramError, printable
from core.evaluation.trust import DEFAULT_ALPHA, DEFAULT_TARGET


@cli.command("trust")
@click.argument("dataset")
@click.option(
    "--target", type=float, default=DEFAULT_TARGET, show_default=True, help="Agreement with people to guarantee."
)
@click.option("--alpha", type=float, default=DEFAULT_ALPHA, show_default=True, help="Chance that the guarantee fails.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def trust_command(ctx: click.Context, dataset: str, target: float, alpha: float, as_json: bool) -> None:
    """The confidence above which the judge's verdicts may stand without a person.

    From the pairs people reviewed (none the judge trained on): the lowest threshold on the stored
    confidence of each pair's latest judgment at which the judge agrees with people at least
    --target of the time, with probability 1 - alpha (fixed-sequence testing, exact binomial
    bound, as in Trust or Escalate). Pairs under it need a person. No model is loaded.
    """
    from core.evaluation.trust import check_levels, dataset_trust

    check_levels(target, alpha)
    dataset = known_dataset(ctx, dataset)
    with database_of(ctx).session() as session:
        report = dataset_trust(session, dataset, target, alpha)
    click.echo(json.dumps(report.as_dict()) if as_json else "\n".join(report.lines()))


@cli.command("check")
@click.argument("dataset")
@click.argument("version")
@click.option(
    "--holdout", type=float, default=0.25, show_default=True, help="The held-out split's share (as `gram adapt`)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def check_command(
    ctx: click.Context, dataset: str, version: str, holdout: float, batch_size: int, as_json: bool
) -> None:
    """The regression gate for CI: exit 1 when VERSION is significantly worse than the active version.

    Both judge DATASET's reviewed pairs of the held-out split (none either trained on); McNemar's
    exact test on the pairs one got right and the other wrong decides (p < 0.05, with the counts).
    Under 20 such pairs there is no verdict, and the exit status is 0; 2 when it cannot compare.
    """
    from core.model.versions import get_version
    from core.train.gate import regression_gate

    try:
        db = database_of(ctx)
        dataset = known_dataset(ctx, dataset)
        with db.session() as session:
            get_version(session, version)  # an unknown version is refused before any model loads
        settings = settings_of(ctx)
        result = regression_gate(db, settings, dataset, version, holdout_fraction=holdout, batch_size=batch_size)
    except GramError as error:  # not a verdict: a build must not read "worse" from it
        raise CheckError(printable(str(error))) from error
    except click.ClickException as error:
        raise CheckError(error.format_message()) from error
    click.echo(json.dumps(result.as_dict()) if as_json else "\n".join(result.lines()))
    ctx.exit(1 if result.worse else 0)


class CheckError(click.ClickException):
    """`gram check` could not compare (exit status 2): 1 means "significantly worse"."""

    exit_code = 2


@cli.command("estimate")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def estimate_command(ctx: click.Context, dataset: str, as_json: bool) -> None:
    """The judge's accuracy, the share of pairs where A is preferred and each named model's win rate,
    by prediction-powered inference from the reviewed pairs and the judge's verdicts on all pairs
    (95% intervals), beside the figures from the reviews alone; and how many more reviews give ±5
    points. No model is loaded."""
    from core.evaluation.estimates import dataset_estimates

    dataset = known_dataset(ctx, dataset)
    with database_of(ctx).session() as session:
        found = dataset_estimates(session, dataset)
    click.echo(json.dumps(found.as_dict()) if as_json else "\n".join(found.lines()))
