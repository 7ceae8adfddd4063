"""Bad settings and options: one line that names the setting, a non-zero exit, no traceback, and
nothing converted or loaded before the check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str], home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GRAM_HOME": str(home), **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )


def one_line_naming(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in message, (word, result.stderr)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"GRAM_DB_URL": "postgresql+psycopg://gram:pw@127.0.0.1:1/none"}, ["GRAM_DB_URL", "127.0.0.1:1"]),
        ({"GRAM_DB_URL": "not a url"}, ["GRAM_DB_URL"]),
        ({"GRAM_DB_URL": "mysqlx://host/db"}, ["GRAM_DB_URL"]),
        ({"GRAM_BACKEND": "tensorflow"}, ["GRAM_BACKEND", "tensorflow"]),
        ({"GRAM_MAX_IMPORT_MB": "-5"}, ["GRAM_MAX_IMPORT_MB"]),
    ],
)
def test_the_cli_says_which_setting_is_wrong(tmp_path: Path, env: dict[str, str], words: list[str]) -> None:
    one_line_naming(run(["-m", "app.cli", "datasets"], env, tmp_path / "home"), *words)


def test_an_unusable_data_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_line_naming(run(["-m", "app.cli", "datasets"], {}, blocker / "home"), "GRAM_HOME")


def test_bad_numbers_and_a_missing_endpoint_are_refused_before_any_model_loads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(["-m", "app.cli", "demo"], {}, home).returncode == 0
    for args in (
        ["judge", "demo", "--limit", "-1"],
        ["judge", "demo", "--votes", "0"],
        ["judge", "demo", "--batch-size", "0"],
    ):
        one_line_naming(run(["-m", "app.cli", *args], {}, home), args[2])
    result = run(["-m", "app.cli", "judge", "demo", "--backend", "openai"], {}, home)
    one_line_naming(result, "GRAM_OPENAI_BASE_URL")
    assert not (home / "models").exists()  # said before converting the embedded model


def test_launch_says_so_when_the_port_is_taken_or_the_store_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["launch.py", "--port", str(port), "--model", str(tmp_path / "m")], {}, tmp_path / "home")
        one_line_naming(result, str(port))
    result = run(["launch.py"], {"GRAM_DB_URL": "postgresql+psycopg://gram:pw@127.0.0.1:1/none"}, tmp_path / "h2")
    one_line_naming(result, "GRAM_DB_URL")
    result = run(["launch.py", "--backend", "openai"], {}, tmp_path / "h3")
    one_line_naming(result, "GRAM_OPENAI_BASE_URL")
    assert not (tmp_path / "h3" / "models").exists()


def test_many_commands_starting_at_once_on_one_fresh_data_folder_all_find_it_usable(tmp_path: Path) -> None:
    """Two `gram` commands started together both create and probe the data folder; neither may see
    the other's probe come and go and call the folder unusable."""
    from concurrent.futures import ThreadPoolExecutor

    from core.settings import Settings, usable_home

    settings = Settings(home=tmp_path / "fresh" / "gram-home")
    with ThreadPoolExecutor(max_workers=8) as pool:
        homes = list(pool.map(lambda _: usable_home(settings), range(2000)))
    assert set(homes) == {settings.home}
    assert list(settings.home.iterdir()) == []  # no probe left behind
