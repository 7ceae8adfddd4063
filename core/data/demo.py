"""The demo dataset shipped inside the package (see core/data/demo_data/README.md for sources, licences)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.importer import ImportReport, import_files
from core.settings import Settings
from storage.tables import Dataset

DEMO_DATASET = "demo"
DEMO_FILES = ("llmbar_natural.jsonl", "pandalm_sample.jsonl")


def demo_paths() -> list[Path]:
    folder = files("core.data") / "demo_data"
    return [Path(str(folder / name)) for name in DEMO_FILES]


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
