"""A judge head: a logistic layer on the model's hidden states, learnt in seconds.

The fast path already runs the label-only prompt in both orders; at its answer slot the hidden
states of a middle and the last decoder layer describe the pair, and pooled over each response's
tokens they describe the two responses. The head's features are differences that swapping the pair
negates (`order_features`): the slot's h(A, B) - h(B, A), and each pool's A - B averaged over the
two orders. Its probability that A is better is sigmoid(w · f / s) with no bias, so the head gives
the swapped pair exactly 1 - P: it cannot prefer a position (position-consistent by construction). It is
fitted by L-BFGS on the logistic loss with an L2 penalty chosen by cross-validation, which takes
milliseconds for a few hundred pairs; the cost is the forward passes, which judging pays anyway.

A head is stored as a folder holding `head.safetensors` and is part of a model version (the base
model, its adapter if any, and the head).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ModelError

if TYPE_CHECKING:
    import torch

HEAD_FILE = "head.safetensors"
# Beside the slot, a head reads the mean and the max of each response's hidden states
# (benchmarks/adapt_curves.py measured what each adds).
HEAD_POOLS: tuple[str, ...] = ("mean", "max")
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # penalties tried by cross-validation (mean loss + l2 · |w|²)


def head_layers(num_layers: int) -> tuple[int, int]:
    """The decoder layers (0-based) whose outputs the head reads: the middle one and the last."""
    return num_layers // 2, num_layers - 1


def order_features(states: torch.Tensor, layers: int, pools: Sequence[str]) -> torch.Tensor:
    """A pair's features from `slot_states` of its two presentations (rows in pair-major order: AB,
    then BA). Per layer: the slot's difference h(A, B) - h(B, A); for each pool, the response
    difference pool(A) - pool(B), averaged over the two orders. Swapping the pair negates all."""
    import torch

    ab, ba = states[0::2], states[1::2]
    width = states.shape[1] // layers
    size = width // (1 + 2 * len(pools))
    parts = []
    for layer in range(layers):
        at = layer * width
        parts.append(ab[:, at : at + size] - ba[:, at : at + size])
        for k in range(len(pools)):
            first, second = at + (1 + 2 * k) * size, at + (2 + 2 * k) * size
            # In BA the first response is B: (A - B) is second - first there.
            a_minus_b = (ab[:, first:second] - ab[:, second : second + size]) + (
                ba[:, second : second + size] - ba[:, first:second]
            )
            parts.append(a_minus_b / 2)
    return torch.cat(parts, dim=-1)


@dataclass(frozen=True)
class Head:
    weight: torch.Tensor  # [d]
    scale: torch.Tensor  # [d], the features' spread (no centring: it would break the symmetry)
    layers: tuple[int, ...]
    l2: float
    trained_on: int
    pools: tuple[str, ...] = ()  # heads from before pooled features read the slot alone

    def tempered(self, temperature: float) -> Head:
        """The head with its logits divided by `temperature` (a calibration map: > 1 pulls its
        confidence towards 1/2); the temperature folds into the weights, so it is saved with them."""
        return replace(self, weight=self.weight / temperature)

    def prob_a(self, features: torch.Tensor) -> torch.Tensor:
        """P(A better) for each row of order-difference features."""
        import torch

        return torch.sigmoid((features.float() / self.scale) @ self.weight)

    def save(self, folder: Path) -> None:
        """Write the head into `folder` whole, or not at all (written beside it, then renamed)."""
        from safetensors.torch import save_file

        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        meta = {
            "layers": json.dumps(list(self.layers)),
            "pools": json.dumps(list(self.pools)),
            "l2": str(self.l2),
            "trained_on": str(self.trained_on),
        }
        save_file({"weight": self.weight.contiguous(), "scale": self.scale.contiguous()}, staging / HEAD_FILE, meta)
        os.replace(staging, folder)

    @classmethod
    def load(cls, folder: str | Path) -> Head:
        from safetensors import safe_open

        path = Path(folder) / HEAD_FILE
        if not path.is_file():
            raise ModelError(f"no judge head at {path}")
        with safe_open(str(path), framework="pt") as f:
            meta: dict[str, Any] = f.metadata() or {}
            weight, scale = f.get_tensor("weight"), f.get_tensor("scale")
        return cls(
            weight,
            scale,
            tuple(json.loads(meta["layers"])),
            float(meta["l2"]),
            int(meta["trained_on"]),
            tuple(json.loads(meta.get("pools", "[]"))),
        )


@lru_cache(maxsize=8)
def load_head(folder: str) -> Head:
    """`Head.load`, once per folder: the fast path scores batch after batch with the same head, and
    a head folder is never rewritten (it is written whole, under its job's name)."""
    return Head.load(folder)


def is_head(folder: Path) -> bool:
    return (folder / HEAD_FILE).is_file()


def _fit(x: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    import torch

    w = torch.zeros(x.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([w], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(x @ w, y) + l2 * (w @ w)
        value.backward()
        return value

    optimizer.step(loss)
    return w.detach()


def fit_head(
    features: torch.Tensor,
    labels: Sequence[str],
    layers: Sequence[int],
    pools: Sequence[str] = (),
    *,
    l2: float | None = None,
) -> Head:
    """Fit a head on `order_features` (read at `layers` with `pools`) and the reviewed labels (A or
    B); the penalty `l2`, or the one of `L2_GRID` cross-validation chooses."""
    import torch

    if len(labels) < 2 or len(set(labels)) < 2:
        raise ModelError("a judge head needs reviewed pairs of both labels (A and B) to learn from")
    x = features.float()
    scale = x.pow(2).mean(0).sqrt().clamp(min=1e-6)
    x = x / scale
    y = torch.tensor([1.0 if label == "A" else 0.0 for label in labels])
    # Each pair also in the other order (f -> -f, label flipped): the data the symmetry implies.
    pairs_x, pairs_y = torch.stack([x, -x], dim=1), torch.stack([y, 1 - y], dim=1)
    folds = min(5, len(labels))
    if l2 is None:
        l2 = min(L2_GRID, key=lambda value: _cv_loss(pairs_x, pairs_y, value, folds))
    weight = _fit(pairs_x.flatten(0, 1), pairs_y.flatten(), l2)
    return Head(weight, scale, tuple(layers), l2, len(labels), tuple(pools))


def _cv_loss(x: torch.Tensor, y: torch.Tensor, l2: float, folds: int) -> float:
    """Mean held-out logistic loss over `folds` folds of pairs (a pair and its swap on one side)."""
    import torch

    total = 0.0
    for k in range(folds):
        held = torch.arange(len(y)) % folds == k
        w = _fit(x[~held].flatten(0, 1), y[~held].flatten(), l2)
        logits = x[held].flatten(0, 1) @ w
        total += float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y[held].flatten(), reduction="sum"))
    return total / y.numel()
