"""A judge head's features, kept per pair: the fast path computes them anyway, so a head is fitted
on reviewed pairs without running the model again (the instant judge refits after every few reviews).

A pair's features are `order_features` (core/head/classifier.py) under one model version (its base
model and adapter, never a head) and one recipe: the prompt's length budget, the layers read and
the pools over the responses. They are stored as float16 (half the bytes; a head's logistic
fit does not notice the rounding) in `pair_features`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.head.classifier import HEAD_POOLS, head_layers
from core.model.spec import ModelSpec
from storage.tables import Pair, PairFeature

if TYPE_CHECKING:
    import torch

    from core.backends.base import Backend
    from storage.database import Database


_CURRENT_POOLS = "/pools=" + ",".join(HEAD_POOLS)


@dataclass(frozen=True)
class FeatureSource:
    """Where a head's features come from: the model version without its head, and the recipe."""

    version_id: int
    layers: tuple[int, ...]
    max_len: int
    pools: tuple[str, ...] = ()

    @property
    def recipe(self) -> str:
        layers = f"label-only/len={self.max_len}/layers=" + ",".join(str(n) for n in self.layers)
        # Features kept before pooling existed have no "/pools=" part and stay readable.
        return layers + ("/pools=" + ",".join(self.pools) if self.pools else "")

    @staticmethod
    def reads_of(recipe: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """(layers, pools) that features kept under `recipe` read."""
        layers, _, pools = recipe.rsplit("layers=", 1)[1].partition("/pools=")
        return tuple(int(n) for n in layers.split(",")), tuple(pools.split(",")) if pools else ()


def base_version_id(db: Database, spec: ModelSpec) -> int:
    """The version whose features a head of `spec` reads: the same model without a head."""
    from core.model.versions import version_id_for

    return version_id_for(db, replace(spec, head=None))


def feature_source(db: Database, backend: Backend) -> FeatureSource | None:
    """The features this backend's fast path yields, or None where it cannot read hidden states."""
    if not backend.reads_hidden_states:
        return None
    return FeatureSource(
        base_version_id(db, backend.spec), head_layers(backend.num_layers), backend.max_model_len, HEAD_POOLS
    )


def encode(row: torch.Tensor) -> bytes:
    return row.detach().cpu().float().numpy().astype("<f2").tobytes()


def decode(blobs: Sequence[bytes]) -> torch.Tensor:
    import numpy as np
    import torch

    return torch.from_numpy(np.stack([np.frombuffer(b, dtype="<f2") for b in blobs]).astype(np.float32))


def store_features(session: Session, source: FeatureSource, pair_ids: Sequence[int], features: torch.Tensor) -> None:
    """Keep each pair's features (rows of `features`, in `pair_ids`' order); pairs already kept stay."""
    have = set(
        session.scalars(
            select(PairFeature.pair_id).where(
                PairFeature.model_version_id == source.version_id,
                PairFeature.recipe == source.recipe,
                PairFeature.pair_id.in_(list(pair_ids)),
            )
        )
    )
    for pair_id, row in zip(pair_ids, features, strict=True):
        if pair_id not in have:
            have.add(pair_id)
            session.add(
                PairFeature(pair_id=pair_id, model_version_id=source.version_id, recipe=source.recipe, data=encode(row))
            )


def dataset_recipe(session: Session, dataset_id: int, version_id: int) -> str | None:
    """The recipe most of the dataset's kept features have under this version, today's reads first
    (features kept before them still serve; None: none kept)."""
    query = (
        select(PairFeature.recipe)
        .join(Pair, Pair.id == PairFeature.pair_id)
        .where(Pair.dataset_id == dataset_id, PairFeature.model_version_id == version_id)
        .group_by(PairFeature.recipe)
        .order_by(PairFeature.recipe.endswith(_CURRENT_POOLS).desc(), func.count().desc())
        .limit(1)
    )
    return session.scalar(query)


def covering_recipe(session: Session, version_id: int, pair_ids: Sequence[int]) -> str | None:
    """A recipe with today's reads under which every one of `pair_ids` has kept features (None:
    there is none, and they are read again)."""
    query = (
        select(PairFeature.recipe)
        .where(
            PairFeature.model_version_id == version_id,
            PairFeature.pair_id.in_(list(pair_ids)),
            PairFeature.recipe.endswith(_CURRENT_POOLS),
        )
        .group_by(PairFeature.recipe)
        .having(func.count() == len(set(pair_ids)))
    )
    return session.scalars(query).first()


def kept_features(
    session: Session, version_id: int, recipe: str, pair_ids: Iterable[int]
) -> tuple[list[int], torch.Tensor | None]:
    """(the pair ids that have kept features, their features as rows), of the given pairs."""
    query = select(PairFeature.pair_id, PairFeature.data).where(
        PairFeature.model_version_id == version_id, PairFeature.recipe == recipe
    )
    ids = sorted(set(pair_ids))
    rows: list[tuple[int, bytes]] = []
    for start in range(0, len(ids), 500):
        rows += [(i, b) for i, b in session.execute(query.where(PairFeature.pair_id.in_(ids[start : start + 500])))]
    if not rows:
        return [], None
    return [i for i, _ in rows], decode([b for _, b in rows])


def dataset_features(
    session: Session, version_id: int, recipe: str, dataset_id: int, chunk: int = 4096
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Every kept feature row of a dataset, `chunk` pairs at a time in pair id order (a million
    pairs never sit in memory at once)."""
    after = 0
    while True:
        rows = session.execute(
            select(PairFeature.pair_id, PairFeature.data)
            .join(Pair, Pair.id == PairFeature.pair_id)
            .where(
                Pair.dataset_id == dataset_id,
                PairFeature.model_version_id == version_id,
                PairFeature.recipe == recipe,
                PairFeature.pair_id > after,
            )
            .order_by(PairFeature.pair_id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield [i for i, _ in rows], decode([b for _, b in rows])
        after = rows[-1][0]
