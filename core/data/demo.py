"""The demo dataset shipped inside the package (see core/data/demo_data/README.md for sources, licences)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.importer import ImportReport, import_files
from core.settings import Settings
from storage.tables import Dataset

if TYPE_CHECKING:
    from core.text.pair import PairText

DEMO_DATASET = "demo"
DEMO_FILES = ("llmbar_natural.jsonl", "pandalm_sample.jsonl")


def demo_paths() -> list[Path]:
    folder = files("core.data") / "demo_data"
    return [Path(str(folder / name)) for name in DEMO_FILES]


def demo_rows(path: Path | None = None) -> list[dict[str, Any]]:
    """The demo's rows in the shared schema (prompt, response_a, response_b, label, source, ...):
    of one of its files, or of all of them in order."""
    return [json.loads(line) for p in ([path] if path else demo_paths()) for line in p.read_text().splitlines()]


def demo_pair_texts(count: int) -> list[PairText]:
    """`count` demo pairs, half from each of the demo's files (what the benchmarks score)."""
    from core.text.pair import PairText

    pairs: list[PairText] = []
    for path in demo_paths():
        rows = demo_rows(path)[: (count + 1) // 2]
        pairs += [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in rows]
    return pairs[:count]


def seed_demo(session: Session, settings: Settings) -> ImportReport | None:
    """Import the demo dataset into an empty store; does nothing once any dataset exists."""
    if session.scalar(select(Dataset.id).limit(1)) is not None:
        return None
    return import_files(
        session,
        demo_paths(),
        dataset=DEMO_DATASET,
        max_bytes=settings.max_import_bytes,
        max_chars=settings.max_field_chars,
    )
