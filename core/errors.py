"""One family of typed errors. Each message says what went wrong and what to do about it.

The CLI turns a `GramError` into a clean message and a non-zero exit; the studio into `gr.Error`.
Anything else that escapes is a bug.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError


class GramError(Exception):
    """A problem the user can fix; `str(error)` says how."""


class InputFileError(GramError):
    """A whole input file cannot be used (unreadable, unparseable, too large, unknown format)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NotFoundError(GramError):
    """A named dataset, pair, model version or job does not exist."""


class ConflictError(GramError):
    """Someone else changed the record first; reload and try again."""


class ModelError(GramError):
    """The model cannot be loaded or used as configured."""


class ConfigError(GramError):
    """A setting or an option has a value it cannot take; the message names it."""


class PermissionDenied(GramError):
    """The signed-in person may not do this (a reviewer asking for an admin's action)."""


@dataclass(frozen=True)
class OptionName:
    """An option as each edge calls it: the command line's flag and the studio's field."""

    cli: str
    studio: str


# Messages from core name an option by its flag (`OPTIONS[...].cli`); the studio's error edge
# puts its own words in their place (`in_studio_words`), so nobody on a page is told to pass a flag.
OPTIONS = {
    "allow_empty": OptionName("--allow-empty", "the box “keep pairs with an empty response”"),
    "map": OptionName("--map", "the column mapping (field=column)"),
}


def in_studio_words(message: str) -> str:
    for name in OPTIONS.values():
        message = message.replace(name.cli, name.studio)
    return message


def printable(message: str) -> str:
    """`message` as text any terminal or page can show: lone surrogates (bytes of a file that were
    not UTF-8, a column name written as "\\ud800") as escapes instead of an encoding error."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


# Failures of the machine rather than of the input: each edge shows them as one `system_error` line.
SYSTEM_ERRORS: tuple[type[Exception], ...] = (OSError, SQLAlchemyError)


def system_error(error: BaseException) -> str:
    """One line for a failure of the machine rather than of the input: a full disk, a file that
    cannot be written, a database that stopped answering or refused a write."""
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        reason = error.strerror or type(error).__name__
        hint = "; free some space and try again" if error.errno == errno.ENOSPC else ""
        return f"could not read or write{where}: {reason}{hint}"
    orig = getattr(error, "orig", None)
    reason = str(orig or error).strip().splitlines()[0] if str(orig or error).strip() else type(error).__name__
    return f"the database refused the change, so nothing of it was stored ({reason})"
