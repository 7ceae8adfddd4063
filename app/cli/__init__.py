"""The `gram` command line: thin commands over `core/`. Each docstring is the command's --help.

The group and its error edge are in group.py; the commands, by concern, in data.py (import,
export, datasets, demo), judging.py (judge, evaluate, rank), trust.py (trust, check, estimate) and
training.py (adapt, selftrain, models, worker, cancel). Importing this package registers them all.
"""

from __future__ import annotations

from app.cli import data, judging, training, trust  # noqa: F401  (registers the commands)
from app.cli.group import cli


def main() -> None:
    cli()


__all__ = ["cli", "main"]
