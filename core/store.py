"""Opening the configured store, with errors that name the setting to fix.

storage/ knows nothing of settings or of the project's errors; this is where the two meet, for
the CLI, the studio and the worker alike.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

from core.errors import ConfigError
from core.settings import Settings, usable_home
from storage.database import Database


def open_store(settings: Settings) -> Database:
    """The store at GRAM_DB_URL (default: SQLite in GRAM_HOME), migrated to the current schema."""
    usable_home(settings)
    url = settings.database_url
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
    except ArgumentError:
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {url!r} is not a database URL") from None
    _check_sqlite_file(parsed, shown)
    try:
        return Database(url)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: {type(error).__name__}: {error}") from None
    except ImportError as error:  # the URL names a driver that is not installed
        raise ConfigError(
            f"GRAM_DB_URL (or --db-url) {shown}: its database driver is not installed ({error.name or error}); "
            "for PostgreSQL install gram-studio[postgres] and use postgresql+psycopg://"
        ) from None
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "connection refused"
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: cannot reach the database ({reason})") from None
    except DatabaseError as error:  # e.g. a file that is not an SQLite database
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: not a usable database ({reason})") from None


def _check_sqlite_file(url: URL, shown: str) -> None:
    """An SQLite URL names a file in a folder that exists and can be written: the folder is never
    created for it (a typo would start an empty store elsewhere), and a folder that is a file is said."""
    if url.get_backend_name() != "sqlite":
        return
    if not url.database or url.database == ":memory:" or "mode=memory" in str(url.query):
        raise ConfigError(
            f"GRAM_DB_URL (or --db-url) {shown}: an in-memory database keeps nothing once the program ends "
            "(and the studio's worker processes would each see another one); name a file: sqlite:///path/gram.db"
        )
    path = Path(url.database)
    folder = path.parent
    if not folder.exists():
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: the folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: {folder} is a file, not a folder")
    if path.is_dir():
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: {path} is a folder, not a database file")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(f"GRAM_DB_URL (or --db-url) {shown}: this program may not write there")
