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
