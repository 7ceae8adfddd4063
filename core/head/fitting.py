"""Training a judge head (core/head/classifier.py) on reviewed pairs: the adaptation that takes seconds.

The features come from the store where the fast path kept them (core/head/features.py) and are
computed, then kept, for the pairs it has not read: a dataset judged with `gram judge --fast`
trains its head without running the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

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

FEATURE_STEP = 8  # pairs per step of the progress bar while features are read


def head_features(
    db: Database,
    spec: ModelSpec,
    pair_ids: Sequence[int],
    texts: Sequence[PairText],
    *,
    batch_size: int = 8,
    show_progress: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[Any, tuple[tuple[int, ...], tuple[str, ...]], dict[str, Any]]:
    """(features in `pair_ids`' order, the (layers, pools) they read, how they were had) for `spec`
    without its head. Features the store keeps serve as they are; the model reads only the other
    pairs (a bar with pairs/s and time left; `on_step(read, to_read)` after each step), and they
    are kept for the next fit."""
    started = time.perf_counter()
    version_id = base_version_id(db, spec)
    with db.session() as session:
        recipe = covering_recipe(session, version_id, pair_ids) if pair_ids else None
        if recipe is not None:
            ids, features = kept_features(session, version_id, recipe, pair_ids)
    if recipe is not None:
        assert features is not None
        return (
            _in_order(ids, features, pair_ids),
            FeatureSource.reads_of(recipe),
            {"kept": len(pair_ids), "features_s": time.perf_counter() - started},
        )

    from core.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(replace(spec, head=None), batch_size=batch_size)
    try:
        source = feature_source(db, backend)
        assert source is not None  # the transformers backend reads hidden states
        with db.session() as session:
            kept_ids, kept = kept_features(session, version_id, source.recipe, pair_ids)
        have = set(kept_ids)
        # Longest first, in steps of similar length: padding stays small and the bar's early
        # rate does not promise too much.
        todo = sorted((k for k, pair_id in enumerate(pair_ids) if pair_id not in have), key=lambda k: -_chars(texts[k]))
        read_ids, parts = [], []
        with tqdm(total=len(todo), unit="pair", desc="reading features", disable=not show_progress) as bar:
            for step in range(0, len(todo), FEATURE_STEP):
                chunk = todo[step : step + FEATURE_STEP]
                _, found = score_pairs_and_features(backend, [texts[k] for k in chunk])
                assert found is not None
                read_ids += [pair_ids[k] for k in chunk]
                parts.append(found)
                bar.update(len(chunk))
                if on_step is not None:
                    on_step(len(read_ids), len(todo))
    finally:
        backend.close()
    import torch

    if parts:
        with db.session() as session:
            store_features(session, source, read_ids, torch.cat(parts))
    all_ids = [*kept_ids, *read_ids]
    rows = torch.cat([t for t in (kept, *parts) if t is not None])
    had = {"kept": len(kept_ids), "features_s": time.perf_counter() - started}
    return _in_order(all_ids, rows, pair_ids), (source.layers, source.pools), had


def _chars(text: PairText) -> int:
    return len(text.prompt) + len(text.response_a) + len(text.response_b)


def _in_order(ids: Sequence[int], rows: Any, pair_ids: Sequence[int]) -> Any:
    """`rows` (one per id of `ids`) in `pair_ids`' order."""
    where = {pair_id: row for row, pair_id in enumerate(ids)}
    return rows[[where[i] for i in pair_ids]]


def train_head(
    db: Database,
    spec: ModelSpec,
    pair_ids: Sequence[int],
    texts: Sequence[PairText],
    labels: Sequence[str],
    output_dir: Path,
    *,
    batch_size: int = 8,
    show_progress: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit a head for `spec`'s model (its own head, if any, is replaced) and write it to `output_dir`;
    `show_progress` and `on_step` follow the features being read (`head_features`)."""
    features, (layers, pools), had = head_features(
        db, spec, pair_ids, texts, batch_size=batch_size, show_progress=show_progress, on_step=on_step
    )
    started = time.perf_counter()
    head = fit_head(features, labels, layers, pools)
    fit_s = time.perf_counter() - started
    head.save(output_dir)
    return {"examples": len(texts), "fit_s": fit_s, "l2": head.l2, "layers": list(layers), "pools": list(pools), **had}
