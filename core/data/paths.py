"""Files named after user input (a dataset's name, an export): a safe slug, checked to stay in its folder."""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import GramError

_UNSAFE = re.compile(r"[^\w.-]+")


def slug(text: str, fallback: str = "dataset") -> str:
    """Letters, digits, '.', '_' and '-' only (no separators, no '..'), at most 100 characters."""
    cleaned = _UNSAFE.sub("-", text).strip(".-_")[:100]
    return cleaned if cleaned and set(cleaned) != {"."} else fallback


def file_in(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/<slug of stem><suffix>`, resolved, and refused if it would still lie elsewhere."""
    root = folder.resolve()
    path = (root / f"{slug(stem)}{suffix}").resolve()
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
    if not any(path.is_relative_to(root) for root in resolved_roots) or not (path.is_file() or path.is_dir()):
        raise GramError(NOT_ALLOWED)
    return path
