"""Alembic environment: runs on the engine handed over by `storage.database.migrate`.

Run by hand with `alembic -x url=... upgrade head` if needed; normally the studio and the
CLI apply migrations on start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from filelock import FileLock
from sqlalchemy import Connection

from storage.database import make_engine
from storage.tables import Base, outside_models

config = context.config
target_metadata = Base.metadata


# Any fixed number: the PostgreSQL advisory lock that processes migrating one database take turns on.
MIGRATION_LOCK_KEY = 0x6772616D


@contextmanager
def one_migrator_at_a_time(connection: Connection) -> Iterator[None]:
    """The migration's transaction, taken in turns: processes that start together on a fresh store
    (two `gram` commands, a studio and a worker) go one after another, so the second finds the
    schema made instead of creating the same tables again. The turn ends only after the commit:
    a lock released before it would let the next process read the old version."""
    database = connection.engine.url.database
    if connection.dialect.name == "sqlite" and database and database != ":memory:":
        with FileLock(f"{database}.migrate.lock"), connection.begin():
            yield
    else:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Held until this transaction ends; the next one then reads the new version.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            yield


def run_migrations_online() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = config.attributes.get("engine") or make_engine(str(url))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a column by copying its table and dropping the old one; with foreign
            # keys on, that drop would cascade to the rows referring to it (a review's history).
            # The pragma only takes effect outside a transaction; the check below replaces it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with one_migrator_at_a_time(connection):
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    # SQLite cannot ALTER most things; batch mode copies the table instead.
                    render_as_batch=sqlite,
                    compare_type=True,
                    include_object=lambda _object, name, *_: not outside_models(name),
                )
                with context.begin_transaction():
                    context.run_migrations()
                if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise RuntimeError(f"a migration left rows that refer to missing ones: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
