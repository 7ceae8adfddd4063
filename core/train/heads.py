"""Training a judge head (core/model/head.py) on reviewed pairs: the adaptation that takes seconds.

The features come from the store where the fast path kept them (core/model/features.py) and are
computed, then kept, for the pairs it has not read: a dataset judged with `gram judge --fast`
trains its head without running the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.judge.fast import fast_slots
from core.judge.protocol import PairText
from core.model.features import FeatureSource, feature_source, kept_features, store_features
from core.model.head import fit_head
from core.model.spec import ModelSpec
from core.model.versions import version_id_for
from core.vocab import Order
from storage.database import Database
from storage.tables import PairFeature


def _kept_recipe(db: Database, version_id: int, pair_ids: Sequence[int]) -> str | None:
    """A recipe under which every one of `pair_ids` has kept features (None: there is none)."""
    with db.session() as session:
        query = (
            select(PairFeature.recipe)
            .where(PairFeature.model_version_id == version_id, PairFeature.pair_id.in_(list(pair_ids)))
            .group_by(PairFeature.recipe)
            .having(func.count() == len(set(pair_ids)))
        )
        return session.scalars(query).first()


def head_features(
    db: Database, spec: ModelSpec, pair_ids: Sequence[int], texts: Sequence[PairText], *, batch_size: int = 8
) -> tuple[Any, tuple[int, ...], dict[str, Any]]:
    """(features in `pair_ids`' order, the layers they read, how they were had) for `spec` without its head."""
    base = replace(spec, head=None)
    started = time.perf_counter()
    recipe = _kept_recipe(db, version_id_for(db, base), pair_ids) if pair_ids else None
    if recipe is not None:
        with db.session() as session:
            ids, features = kept_features(session, version_id_for(db, base), recipe, pair_ids)
        order = {pair_id: row for row, pair_id in enumerate(ids)}
        assert features is not None
        rows = features[[order[i] for i in pair_ids]]
        return (
            rows,
            FeatureSource.layers_of(recipe),
            {"kept": len(pair_ids), "features_s": time.perf_counter() - started},
        )

    from core.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(base, batch_size=batch_size)
    try:
        source = feature_source(db, backend)
        assert source is not None
        states, _ = backend.slot_states_and_logprobs(fast_slots(backend, texts, [Order.AB, Order.BA]), source.layers)
    finally:
        backend.close()
    features = states[0::2] - states[1::2]
    with db.session() as session:
        store_features(session, source, pair_ids, features)
    return features, source.layers, {"kept": 0, "features_s": time.perf_counter() - started}


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
    features, layers, had = head_features(db, spec, pair_ids, texts, batch_size=batch_size)
    started = time.perf_counter()
    head = fit_head(features, labels, layers)
    fit_s = time.perf_counter() - started
    head.save(output_dir)
    return {"examples": len(texts), "fit_s": fit_s, "l2": head.l2, "layers": list(layers), **had}
