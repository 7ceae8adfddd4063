"""Which model a judge runs: a base model (the embedded one, a hub id, a folder), an adapter, a head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.model.embedded import CHECKPOINT_NAME, embedded_checkpoint
from core.settings import EMBEDDED_MODEL, Settings


@dataclass(frozen=True)
class ModelSpec:
    name: str  # shown to people and stored on judgments
    path: str  # what from_pretrained / vLLM load: a folder or a hub id
    adapter: str | None = None  # a LoRA adapter folder, if any
    head: str | None = None  # a judge head folder (core/head/classifier.py): the fast path's verdict, if any


def looks_like_path(model: str) -> bool:
    """A folder on this machine rather than a hub id (`org/name`, or a bare `name`)."""
    starts = model.startswith(("/", "./", "../", "~", ".\\"))
    return starts or "\\" in model or model.count("/") > 1 or Path(model).exists()


def check_sources(model: str, adapter: str | None = None) -> None:
    """ConfigError, before anything loads, for a model folder or an adapter folder that is not there."""
    if model != EMBEDDED_MODEL and looks_like_path(model):
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"GRAM_MODEL (or --model) {model}: no such model folder")
        if not (folder / "config.json").is_file():
            raise ConfigError(f"GRAM_MODEL (or --model) {model}: not a model folder (it has no config.json)")
    if adapter is not None:
        folder = Path(adapter).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"--adapter {adapter}: no such adapter folder")
        if not (folder / "adapter_config.json").is_file():
            raise ConfigError(f"--adapter {adapter}: not an adapter folder (it has no adapter_config.json)")


def resolve_model(settings: Settings, model: str | None = None, adapter: str | None = None) -> ModelSpec:
    """The spec for `model` (default: the settings'); 'embedded' is converted on first use. A
    missing model or adapter folder is refused first."""
    model = model or settings.model
    check_sources(model, adapter)
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
