"""Files named after user input (a dataset's name, an export): a safe slug, checked to stay in its folder."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path

from core.errors import GramError

_UNSAFE = re.compile(r"[^\w.-]+")
_TAIL = re.compile(r"[\w.-]*", re.ASCII)
SLUG_BYTES = 80  # of a name in a file name; with its tail, far below the 255 bytes a file system allows


def slug(text: str, fallback: str = "dataset", max_bytes: int = SLUG_BYTES) -> str:
    """Letters, digits, '.', '_' and '-' only (no separators, no '..'), at most `max_bytes` in UTF-8
    (cut between characters)."""
    cleaned = _UNSAFE.sub("-", unicodedata.normalize("NFKC", text)).strip(".-_")
    cleaned = cleaned.encode("utf-8")[:max_bytes].decode("utf-8", "ignore").rstrip(".-_")
    return cleaned if cleaned and set(cleaned) != {"."} else fallback


def file_in(folder: Path, name: str, suffix: str, *, tail: str = "") -> Path:
    """`folder/<slug of name><tail><suffix>`, resolved, and refused if it would still lie elsewhere.
    Only the name is cut to fit, never the tail (what keeps each file's name its own: an id, a time,
    a random part), so two long names that share their beginning still give two files."""
    if not _TAIL.fullmatch(tail + suffix):
        raise GramError(f"a file name's tail may hold only letters, digits, '.', '_' and '-' (got {tail!r})")
    root = folder.resolve()
    path = (root / f"{slug(name)}{tail}{suffix}").resolve()
    if path.parent != root:
        raise GramError(f"refusing to write outside {root}")
    return path


NOT_ALLOWED = (
    "that path is not a file in a folder the operator allowed for imports (GRAM_IMPORT_ROOTS); upload the file instead"
)


def allowed_import_path(typed: str, roots: list[Path]) -> Path:
    """The file a person typed, if it lies in one of `roots` once every symlink is followed.

    A relative path is read from the first root; `~` is not expanded. Every refusal is the same
    message, so it tells nothing about what exists on the server."""
    resolved_roots = [root.resolve() for root in roots]
    given = Path(typed.strip())
    candidate = given if given.is_absolute() else (resolved_roots[0] / given if resolved_roots else given)
    try:
        path = candidate.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, unreadable
        raise GramError(NOT_ALLOWED) from None
    if not _inside(path, resolved_roots) or not (path.is_file() or path.is_dir()):
        raise GramError(NOT_ALLOWED)
    if path.is_dir():
        _folder_stays_inside(path, resolved_roots)
    return path


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _folder_stays_inside(folder: Path, roots: list[Path]) -> None:
    """Every file a datasets folder holds, or names, lies in an allowed folder once links are
    followed: a link inside it (or a file name in its state.json) cannot reach the rest of the disk."""
    for where, folders, files in os.walk(folder, followlinks=False):
        for entry in [*folders, *files]:
            try:
                target = (Path(where) / entry).resolve(strict=True)
            except (OSError, RuntimeError):
                raise GramError(NOT_ALLOWED) from None
            if not _inside(target, roots):
                raise GramError(NOT_ALLOWED)
        for listing in {"state.json", "dataset_dict.json"} & set(files):
            for named in _names_in(Path(where) / listing):
                if not named or Path(named).name != named or named in (".", ".."):
                    raise GramError(NOT_ALLOWED)


def _names_in(listing: Path) -> list[str]:
    """The file and split names a datasets folder's state.json or dataset_dict.json refers to."""
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return []  # not a listing the datasets library can follow either: it fails to load
    if not isinstance(data, dict):
        return []
    names = [str(f.get("filename", "")) for f in data.get("_data_files") or [] if isinstance(f, dict)]
    return names + [str(split) for split in data.get("splits") or []]
