"""Which model a judge runs: a base model (the embedded one, a hub id, a folder), an adapter, a head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.model.embedded import CHECKPOINT_NAME, embedded_checkpoint
from core.settings import EMBEDDED_MODEL, Settings


@dataclass(frozen=True)
class ModelSpec:
    name: str  # shown to people and stored on judgments
    path: str  # what from_pretrained / vLLM load: a folder or a hub id
    adapter: str | None = None  # a LoRA adapter folder, if any
    head: str | None = None  # a judge head folder (core/model/head.py): the fast path's verdict, if any


def resolve_model(settings: Settings, model: str | None = None, adapter: str | None = None) -> ModelSpec:
    """The spec for `model` (default: the settings'); 'embedded' is converted on first use."""
    model = model or settings.model
    if model == EMBEDDED_MODEL:
        return ModelSpec(
            _with_adapter(CHECKPOINT_NAME, adapter), str(embedded_checkpoint(settings.models_dir)), adapter
        )
    name = Path(model).name if Path(model).exists() else model
    return ModelSpec(_with_adapter(name, adapter), model, adapter)


def _with_adapter(name: str, adapter: str | None) -> str:
    # Judgments are stored under the spec's name: an adapter makes it a different judge.
    return f"{name}+{Path(adapter).name}" if adapter else name


def guided_by_default(spec: ModelSpec) -> bool:
    """Whether the judge should guide this model through the GRAM-R² format: only the untrained
    embedded model, which does not write the format on its own."""
    return spec.name == CHECKPOINT_NAME and spec.adapter is None
