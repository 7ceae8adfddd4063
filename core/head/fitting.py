"""Training a judge head (core/head/classifier.py) on reviewed pairs: the adaptation that takes seconds.

The features come from the store where the fast path kept them (core/head/features.py) and are
computed, then kept, for the pairs it has not read: a dataset judged with `gram judge --fast`
trains its head without running the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.head.classifier import fit_head
from core.head.fast_path import score_pairs_and_features
from core.head.features import (
    FeatureSource,
    base_version_id,
    covering_recipe,
    feature_source,
    kept_features,
    store_features,
)
from core.model.spec import ModelSpec
from core.text.pair import PairText
from storage.database import Database


def head_features(
    db: Database, spec: ModelSpec, pair_ids: Sequence[int], texts: Sequence[PairText], *, batch_size: int = 8
) -> tuple[Any, tuple[tuple[int, ...], tuple[str, ...]], dict[str, Any]]:
    """(features in `pair_ids`' order, the (layers, pools) they read, how they were had) for `spec`
    without its head."""
    started = time.perf_counter()
    version_id = base_version_id(db, spec)
    with db.session() as session:
        recipe = covering_recipe(session, version_id, pair_ids) if pair_ids else None
        if recipe is not None:
            ids, features = kept_features(session, version_id, recipe, pair_ids)
    if recipe is not None:
        order = {pair_id: row for row, pair_id in enumerate(ids)}
        assert features is not None
        rows = features[[order[i] for i in pair_ids]]
        return (
            rows,
            FeatureSource.reads_of(recipe),
            {"kept": len(pair_ids), "features_s": time.perf_counter() - started},
        )

    from core.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(replace(spec, head=None), batch_size=batch_size)
    try:
        source = feature_source(db, backend)
        _, features = score_pairs_and_features(backend, texts)
    finally:
        backend.close()
    assert source is not None and features is not None
    with db.session() as session:
        store_features(session, source, pair_ids, features)
    return features, (source.layers, source.pools), {"kept": 0, "features_s": time.perf_counter() - started}


def train_head(
    db: Database,
    spec: ModelSpec,
    pair_ids: Sequence[int],
    texts: Sequence[PairText],
    labels: Sequence[str],
    output_dir: Path,
    *,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Fit a head for `spec`'s model (its own head, if any, is replaced) and write it to `output_dir`."""
    features, (layers, pools), had = head_features(db, spec, pair_ids, texts, batch_size=batch_size)
    started = time.perf_counter()
    head = fit_head(features, labels, layers, pools)
    fit_s = time.perf_counter() - started
    head.save(output_dir)
    return {"examples": len(texts), "fit_s": fit_s, "l2": head.l2, "layers": list(layers), "pools": list(pools), **had}
