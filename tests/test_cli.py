"""The `gram` command line, run in-process with its data folder in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner, Result

from app.cli import cli
from core.data.demo import demo_paths


def gram(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_every_command_has_help() -> None:
    ctx = click.Context(cli)
    for name, command in cli.commands.items():
        assert command.help and len(command.help) > 20, name
        assert "Usage: gram" in gram(name, "--help").output
    assert set(cli.list_commands(ctx)) >= {"import", "export", "datasets", "demo", "prepare-model"}


def test_demo_then_datasets_lists_counts() -> None:
    assert "no datasets yet" in gram("datasets").output
    assert "imported 400 pairs" in gram("demo").output
    assert "already has datasets" in gram("demo").output
    lines = gram("datasets").output.splitlines()
    assert lines[0].split() == ["dataset", "pairs", "judged", "reviewed", "created"]
    assert lines[1].split()[:4] == ["demo", "400", "0", "0"]


def test_import_reports_rejected_rows_and_exits_cleanly_on_errors(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in demo_paths()[0].read_text().splitlines()[:3]]
    rows[1]["label"] = "maybe"
    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tmp_path / "rejected.txt"
    result = gram("import", path, "--dataset", "few", "--report", report)
    assert "pairwise, 3 rows -> 2 pairs" in result.output
    assert f"rejected {path}: row 2, field 'label'" in result.output
    assert report.read_text().count("row 2") == 1
    missing = gram("import", tmp_path / "nope.jsonl", code=1)
    assert "no such file" in missing.output and "Traceback" not in missing.output
    assert "is not field=column" in gram("import", path, "--map", "prompt", code=2).output


def test_export_command_writes_the_requested_format(tmp_path: Path) -> None:
    gram("demo")
    out = tmp_path / "dpo.jsonl"
    result = gram("export", "demo", "--format", "dpo", "--include-reference", "--out", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 342 and set(rows[0]) == {"prompt", "chosen", "rejected"}  # 400 minus 58 ties
    assert "skipped 58 tied" in result.output
    gram("export", "demo", "--format", "jsonl", "--out", tmp_path / "all.jsonl")
    assert "imported 0 pairs" in gram("import", tmp_path / "all.jsonl", "--dataset", "demo").output
    assert "no dataset named 'nope'" in gram("export", "nope", "--format", "dpo", "--out", out, code=1).output


def test_db_url_option_points_at_another_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    gram("--db-url", url, "demo")
    assert "demo" in gram("--db-url", url, "datasets").output
    assert "no datasets yet" in gram("datasets").output


def test_training_options_come_from_the_configs() -> None:
    """Each config field is an option with its help and default; the configs' checks reach the CLI."""
    import dataclasses

    from app.cli.options import config_from
    from app.cli.training import TRAIN, adapt_command, selftrain_command
    from core.train.config import AdaptConfig, TrainConfig

    help_text = " ".join(gram("adapt", "--help").output.split())
    for config in (AdaptConfig, TrainConfig):
        for f in dataclasses.fields(config):
            if f.metadata.get("cli", True):
                assert " ".join(f.metadata["help"].split())[:40] in help_text, f.name
    assert "--lr FLOAT" in help_text and "--swap / --no-swap" in help_text
    # No flags: the config's defaults, with the measured best method (a head); self-training fine-tunes.
    values = adapt_command.make_context("adapt", ["demo"]).params
    assert config_from(TrainConfig, dict(values), TRAIN) == TrainConfig(method="head")
    values = selftrain_command.make_context("selftrain", ["demo"]).params
    assert config_from(TrainConfig, dict(values), TRAIN) == TrainConfig(method="lora")
    values = adapt_command.make_context("adapt", ["demo", "--lr", "0.001", "--no-swap", "--lora-r", "8"]).params
    built = config_from(TrainConfig, dict(values), TRAIN)
    assert (built.learning_rate, built.swap_augment, built.lora_r, built.lora_alpha) == (0.001, False, 8, 16)
    # A value the config refuses is one line, exit status 1, before any model loads.
    gram("demo")
    refused = gram("adapt", "demo", "--lr", "-1", code=2)
    assert "learning_rate must be positive" in refused.output and "Traceback" not in refused.output
    refused = gram("selftrain", "demo", "--threshold", "0.2", code=2)
    assert "threshold must be in [0.5, 1]" in refused.output


def test_the_program_logs_to_a_file_in_the_data_folder(gram_home: Path) -> None:
    gram("demo")
    gram("export", "nope", "--format", "dpo", "--out", gram_home / "x.jsonl", code=1)
    log = (gram_home / "logs" / "gram.log").read_text(encoding="utf-8")
    assert "core.data.importer" in log and "imported 400 pairs" in log
