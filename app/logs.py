"""Logging for the program's two edges (the `gram` command and the studio): to the terminal and to
`$GRAM_HOME/logs/gram.log`, so what a job or a handler did can be read after the fact."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(home: Path, *, terminal_level: int = logging.INFO) -> Path:
    """Send the project's log records (INFO and up) to a rotating file, and those at `terminal_level`
    and up to the terminal (stderr); returns the file."""
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gram.log"
    root = logging.getLogger()
    for handler in list(root.handlers):  # configured once per process, whoever asks again
        if getattr(handler, "_gram", False):
            root.removeHandler(handler)
    terminal = logging.StreamHandler()
    terminal.setLevel(terminal_level)
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(path, maxBytes=5 * 2**20, backupCount=3),
        terminal,
    ]
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._gram = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for name in ("app", "core", "storage"):
        logging.getLogger(name).setLevel(logging.INFO)
    return path
