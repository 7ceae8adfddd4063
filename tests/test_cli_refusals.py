"""Every command refuses a bad argument before it converts or loads a model (issue 28, item 3;
issue 26, item 9): an unknown dataset, a missing or unreadable file, an adapter that is not
there. The fast tier's guard (tests/conftest.py) fails any test that reaches the embedded model,
and `--model` names a folder that no backend could load: the refusal must come first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from app.cli import cli
from core.settings import Settings
from storage.database import Database
from tests import factories

NO_DATASET = "no dataset named 'nope'"


def _refused(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in (1, 2), (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), f"not one line: {result.exception!r}\n{result.output}"
    return result.output


@pytest.mark.parametrize(
    "args",
    [
        ("judge", "nope"),
        ("judge", "nope", "--fast"),
        ("judge", "nope", "--for-workers"),
        ("evaluate", "nope"),
        ("evaluate", "nope", "--fast"),
        ("adapt", "nope"),
        ("adapt", "nope", "--method", "lora"),
        ("selftrain", "nope"),
        ("instant", "nope"),
        ("export", "nope", "--format", "dpo", "--out", "never-written.jsonl"),
        ("agreement", "nope"),
    ],
    ids=lambda a: "-".join(a),
)
@pytest.mark.parametrize("model", ["embedded", "unloadable-folder"])
def test_an_unknown_dataset_is_refused_before_any_model(
    args: tuple[str, ...], model: str, db: Database, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text("{}")  # a folder that passes for a model until it is loaded
    chosen = ["--model", str(tmp_path)] if model == "unloadable-folder" and args[0] in ("judge", "evaluate") else []
    assert NO_DATASET in _refused(*args, *chosen)


@pytest.mark.parametrize(
    ("command", "bad_row"),
    [
        ("evaluate --file", '{"prompt": "p", "response_a": "", "response_b": "y", "label": "A"}'),
        ("rank", '{"prompt": "p", "responses": "not a list"}'),
    ],
)
def test_a_missing_or_bad_file_is_refused_before_any_model(
    command: str, bad_row: str, db: Database, settings: Settings, tmp_path: Path
) -> None:
    words = command.split()
    assert "missing.jsonl" in _refused(*words, str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(bad_row + "\n")
    output = _refused(*words, str(bad))
    assert "bad.jsonl" in output and "row 1" in output, output


def test_an_adapter_that_is_not_there_is_refused_before_any_model(
    db: Database, session: Session, tmp_path: Path
) -> None:
    factories.dataset(session, 2, name="mine")
    session.commit()
    gone = tmp_path / "no-adapter"
    for args in (("judge", "mine", "--fast"), ("evaluate", "mine")):
        assert "no-adapter" in _refused(*args, "--adapter", str(gone))


def test_a_folder_that_is_not_a_model_is_one_line(db: Database, session: Session, tmp_path: Path) -> None:
    factories.dataset(session, 2, name="mine")
    session.commit()
    (tmp_path / "config.json").write_text("{}")
    output = _refused("judge", "mine", "--fast", "--model", str(tmp_path))
    assert f"cannot load model '{tmp_path}'" in output and len(output.strip().splitlines()) == 1, output
