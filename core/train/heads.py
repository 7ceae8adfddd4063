"""Training a judge head (core/model/head.py) on reviewed pairs: the adaptation that takes seconds."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.judge.protocol import PairText, fast_slots, order_features
from core.model.head import fit_head, head_layers
from core.model.spec import ModelSpec
from core.vocab import Order


def train_head(
    spec: ModelSpec, texts: Sequence[PairText], labels: Sequence[str], output_dir: Path, *, batch_size: int = 8
) -> dict[str, Any]:
    """Fit a head for `spec`'s model (its own head, if any, is replaced) and write it to `output_dir`."""
    from core.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(replace(spec, head=None), batch_size=batch_size)
    try:
        layers = head_layers(int(backend.model.config.num_hidden_layers))
        started = time.perf_counter()
        features = order_features(backend, fast_slots(backend, texts, [Order.AB, Order.BA]), layers)
        read = time.perf_counter()
        head = fit_head(features, labels, layers)
        fitted = time.perf_counter()
    finally:
        backend.close()
    head.save(output_dir)
    return {
        "examples": len(texts),
        "features_s": read - started,
        "fit_s": fitted - read,
        "l2": head.l2,
        "layers": list(layers),
    }
