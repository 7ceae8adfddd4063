"""Opening the configured store, with errors that name the setting to fix.

storage/ knows nothing of settings or of the project's errors; this is where the two meet, for
the CLI, the studio and the worker alike.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from core.errors import ConfigError
from core.settings import Settings, usable_home
from storage.database import Database


def open_store(settings: Settings) -> Database:
    """The store at GRAM_DB_URL (default: SQLite in GRAM_HOME), migrated to the current schema."""
    usable_home(settings)
    url = settings.database_url
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {url!r} is not a database URL") from None
    try:
        return Database(url)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: {type(error).__name__}: {error}") from None
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "connection refused"
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: cannot reach the database ({reason})") from None
