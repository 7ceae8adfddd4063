"""The `gram` group: global options, the store and settings of one invocation, and the error edge."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from app.logs import configure_logging
from core.backends import Backend, backend_settings, configured_backend
from core.errors import SYSTEM_ERRORS, ConfigError, GramError, printable, system_error
from core.model.spec import guided_by_default
from core.model.versions import current_spec
from core.settings import Settings, get_settings, usable_home
from core.store import open_store
from storage.database import Database


class OptionValueError(click.ClickException):
    """Shown like any error (one line), with click's exit status for a usage error."""

    exit_code = 2


class GramGroup(click.Group):
    """The CLI's one error edge: a GramError becomes one line, not a traceback; exit status 2 for
    an option or setting with a value it cannot take (ConfigError), like click's usage errors, else 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GramError as error:
            kind = OptionValueError if isinstance(error, ConfigError) else click.ClickException
            raise kind(printable(str(error))) from error
        except SYSTEM_ERRORS as error:  # a full disk, a folder that vanished, a store gone
            # The traceback to the log file only: the terminal gets the one line below.
            logging.getLogger(__name__).info("gram %s failed", ctx.invoked_subcommand, exc_info=True)
            raise click.ClickException(printable(system_error(error))) from error


@click.group(name="gram", cls=GramGroup)
@click.option("--home", help="Data folder (default: GRAM_HOME).")
@click.option("--db-url", help="SQLAlchemy database URL (default: GRAM_DB_URL, else SQLite in the data folder).")
@click.version_option(package_name="gram-studio")
@click.pass_context
def cli(ctx: click.Context, home: str | None, db_url: str | None) -> None:
    """GRAM Studio: judge preference pairs with a GRAM-R² reward model, review, adapt."""
    if home is not None and not home.strip():
        raise OptionValueError("--home is empty; name a folder, or leave it out for GRAM_HOME")
    overrides = {k: v for k, v in {"home": Path(home) if home else None, "db_url": db_url}.items() if v is not None}
    settings = get_settings().model_copy(update=overrides) if overrides else get_settings()
    ctx.obj = {"settings": settings}
    # The terminal is the command's own output: only warnings join it; the file has everything.
    configure_logging(usable_home(settings), terminal_level=logging.WARNING)


def settings_of(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def database_of(ctx: click.Context) -> Database:
    """The store, opened (and migrated) on first use in this invocation."""
    if "db" not in ctx.obj:
        ctx.obj["db"] = open_store(settings_of(ctx))
        ctx.call_on_close(ctx.obj["db"].dispose)
    db: Database = ctx.obj["db"]
    return db


def known_dataset(ctx: click.Context, name: str) -> str:
    """`name` if the store has that dataset, else the one-line refusal: a command checks its
    dataset before it converts or loads any model."""
    from core.data.datasets import get_dataset

    with database_of(ctx).session() as session:
        return get_dataset(session, name).name


def backend_of(
    ctx: click.Context, model: str | None, adapter: Path | None, backend: str | None, batch_size: int
) -> Backend:
    """The model to run (--model/--adapter, else the active version, else GRAM_MODEL) on its backend."""
    settings = settings_of(ctx)
    backend_settings(settings, backend)  # a wrong backend or endpoint is reported before any model loads
    with database_of(ctx).session() as session:
        spec = current_spec(session, settings, model, str(adapter) if adapter else None)
    loaded = configured_backend(settings, spec, backend, batch_size=batch_size)
    ctx.call_on_close(loaded.close)
    return loaded


def guided_choice(loaded: Backend, choice: bool | None) -> bool:
    """--guided/--free if given, else guided for the untrained embedded model only."""
    return guided_by_default(loaded.spec) if choice is None else choice
