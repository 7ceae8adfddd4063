"""Shared fixtures: a data folder and SQLite store per test, the real data, the real model, and
the scripted backend that stands in for it in the fast tier.

Tiers: a test that asks for the real model (`embedded_model_dir`, directly or through another
fixture) must be marked `slow`; collection fails otherwise, so `pytest -m "not slow"` never loads
a model (tests/fakes.py is its stand-in)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.settings import Settings, get_settings
from storage.database import Database
from tests.helpers import free_port, wait_for

pytest_plugins = ["tests.browser"]  # the studio and browser fixtures of the browser tests

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def gram_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder (GRAM_HOME) and therefore its own database."""
    home = tmp_path / "gram-home"
    monkeypatch.setenv("GRAM_HOME", str(home))
    monkeypatch.delenv("GRAM_DB_URL", raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def settings(gram_home: Path) -> Settings:
    return get_settings()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if "embedded_model_dir" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests load the real model but are not marked slow (use tests.fakes.ScriptedBackend "
            "or mark them): " + ", ".join(unmarked)
        )


@pytest.fixture(autouse=True)
def no_model_in_the_fast_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast test runs as if the embedded model were not installed: any path to it fails loudly."""
    if request.node.get_closest_marker("slow") is not None:
        return

    def absent() -> Path:
        raise AssertionError("a fast test reached for the embedded model; mark it slow or use tests.fakes")

    monkeypatch.setattr("core.model.embedded.gguf_folder", absent)


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated to head once per session; each test's `db` starts from a copy."""
    path = tmp_path_factory.mktemp("template") / "gram.db"
    Database(f"sqlite:///{path}").dispose()  # the last close folds the WAL back into the file
    return path


@pytest.fixture
def db(settings: Settings, migrated_store: Path) -> Iterator[Database]:
    target = settings.home / "gram.db"
    if settings.db_url is None and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_store, target)
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.sessionmaker() as session:
        yield session


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def embedded_placeholder(settings: Settings) -> Path:
    """Where the converted embedded model would be, holding only a config: for fast tests whose
    subject is the store (a version that names the embedded model), never for loading it."""
    from core.model.embedded import CHECKPOINT_NAME

    folder = settings.models_dir / CHECKPOINT_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture(scope="session")
def embedded_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model, converted once for the whole test session."""
    from core.model.embedded import embedded_checkpoint

    return embedded_checkpoint(tmp_path_factory.mktemp("models"))


def _postgres_binaries() -> tuple[str, str] | None:
    import glob
    import shutil

    for folder in [None, *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        initdb = shutil.which("initdb", path=folder)
        postgres = shutil.which("postgres", path=folder)
        if initdb and postgres:
            return initdb, postgres
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server URL: GRAM_TEST_POSTGRES_URL, else a throwaway local server."""
    import os
    import shutil
    import subprocess
    import tempfile

    pytest.importorskip("psycopg")
    if url := os.environ.get("GRAM_TEST_POSTGRES_URL"):
        yield url
        return
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL here: install it or set GRAM_TEST_POSTGRES_URL")
    initdb, postgres = binaries
    # PostgreSQL refuses to run as root; run it as the postgres user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="gram-pg-"))
    if as_user:
        shutil.chown(folder, "postgres")
    port = free_port()
    data = folder / "data"
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "gram"], check=True, capture_output=True)
    server = subprocess.Popen(
        [*as_user, postgres, "-D", str(data), "-p", str(port), "-k", str(folder), "-c", "listen_addresses=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql+psycopg://gram@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        def accepts() -> bool:
            try:
                psycopg.connect(f"host=127.0.0.1 port={port} user=gram dbname=postgres").close()
                return True
            except psycopg.OperationalError:
                return False

        wait_for(accepts, seconds=30, what="the test PostgreSQL server", process=server, interval=0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server for each test."""
    name = f"gram_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_db(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Database]:
    """The store on SQLite (the data folder's file), then on a fresh PostgreSQL database."""
    url = settings.database_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url)
    yield database
    database.dispose()
