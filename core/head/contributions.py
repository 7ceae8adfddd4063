"""Which words of A and of B pushed a judge head's verdict, and how much: exact by construction.

A head's logit is w · f / s (core/head/classifier.py), and each part of f is linear in the hidden
states of single tokens: per layer, the slot's h(A, B) - h(B, A), and for each response and
presentation, the mean of its tokens' states (each token adds its state over the count) and their
max (each dimension's value is one token's). So the logit splits exactly into
- one term per token of each response: + for A's tokens, - for B's, half from each presentation
  (mean: u · h_t / n; max: the dimensions where token t is the max), and
- one term for the answer slot (the model's own reading of the whole pair, not any span's).
They add up to the head's logit; `HeadExplanation.total` is that sum, and the tests hold it to it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.backends import Backend
from core.head.fast_path import fast_slots
from core.text.pair import PairText
from core.vocab import Order

if TYPE_CHECKING:
    import torch
    from sqlalchemy.orm import Session

    from core.head.classifier import Head
    from core.model.spec import ModelSpec


@dataclass(frozen=True)
class Span:
    response: str  # "A" or "B"
    start: int  # characters in the response's text
    end: int
    text: str
    value: float  # its share of the logit (log-odds of A): + pushes towards A, - towards B


@dataclass(frozen=True)
class HeadExplanation:
    logit: float  # the head's own logit on the features the fast path reads
    slot: float  # the answer slot's share
    tokens: list[Span] = field(default_factory=list)  # every token of both responses

    @property
    def total(self) -> float:
        return self.slot + sum(t.value for t in self.tokens)

    @property
    def prob_a(self) -> float:
        return 1 / (1 + math.exp(-self.logit))

    def strongest(self, response: str, k: int = 5) -> list[Span]:
        """The response's `k` words (runs of tokens between spaces) that moved the logit most."""
        words: dict[tuple[int, int], list[Span]] = defaultdict(list)
        mine = sorted((t for t in self.tokens if t.response == response), key=lambda t: t.start)
        start = None
        for token in mine:
            if start is None or token.text[:1].isspace() or not token.text.strip():
                start = token.start
            words[(start, 0)].append(token)
        merged = [
            Span(response, ts[0].start, ts[-1].end, "".join(t.text for t in ts).strip(), sum(t.value for t in ts))
            for ts in words.values()
        ]
        return sorted((w for w in merged if w.text), key=lambda w: -abs(w.value))[:k]


def head_contributions(backend: Backend, head: Head, pair: PairText) -> HeadExplanation:
    """The head's logit on `pair`, split over the answer slot and every token of A and B."""

    layers, pools = head.layers, head.pools
    u = (head.weight / head.scale).float()
    size = u.numel() // (len(layers) * (1 + len(pools)))  # per layer: the slot, then each pool's A - B
    slot_part = 0.0
    totals: dict[tuple[str, int, int], float] = defaultdict(float)
    texts = {"A": pair.response_a, "B": pair.response_b}
    for order in (Order.AB, Order.BA):
        (slot,) = fast_slots(backend, [pair], [order])
        states = backend.token_states(slot, layers)
        assert slot.spans is not None
        shown = ("A", "B") if order == Order.AB else ("B", "A")  # which response is first in this presentation
        sign_slot = 1.0 if order == Order.AB else -1.0
        for li in range(len(layers)):
            at = li * size * (1 + len(pools))
            slot_part += sign_slot * float(states.slot[li] @ u[at : at + size])
            for k, pool in enumerate(pools):
                for side in (0, 1):
                    response = shown[side]
                    sign = 0.5 if response == "A" else -0.5  # (A - B), averaged over the two orders
                    weights = u[at + (1 + k) * size : at + (2 + k) * size]
                    tokens = states.states[side][li]  # [n, hidden]
                    if tokens.shape[0] == 0:
                        continue
                    shares = _shares(tokens, weights, pool)
                    start = slot.spans[side][0]
                    for (a, b), value in zip(states.spans[side], shares.tolist(), strict=True):
                        totals[(response, max(a - start, 0), max(b - start, 0))] += sign * value
    logit = _logit(backend, head, pair)
    tokens = [
        Span(r, a, min(b, len(texts[r])), texts[r][a : min(b, len(texts[r]))], v)
        for (r, a, b), v in sorted(totals.items(), key=lambda item: (item[0][0], item[0][1]))
    ]
    return HeadExplanation(logit, slot_part, tokens)


def _shares(tokens: torch.Tensor, weights: torch.Tensor, pool: str) -> torch.Tensor:
    """Each token's share of `weights · pool(tokens)`."""
    import torch

    if pool == "mean":
        return (tokens @ weights) / tokens.shape[0]
    best = tokens.argmax(0)  # the token holding each dimension's max
    per_dim = tokens.gather(0, best.unsqueeze(0))[0] * weights
    return torch.zeros(tokens.shape[0]).index_add_(0, best, per_dim)


def _logit(backend: Backend, head: Head, pair: PairText) -> float:
    """The head's logit on the features the fast path reads (what its verdict was)."""
    from core.head.classifier import order_features

    slots = fast_slots(backend, [pair], [Order.AB, Order.BA])
    features = order_features(backend.slot_states(slots, head.layers, head.pools), len(head.layers), head.pools)
    return float(((features.float() / head.scale) @ head.weight)[0])  # prob_a's sigmoid, undone exactly


def judgment_head(session: Session, judgment_id: int) -> tuple[ModelSpec, Head, PairText]:
    """The version (with its head) that gave judgment `judgment_id`, its head, and the pair."""
    from core.errors import GramError, NotFoundError
    from core.head.classifier import load_head
    from core.model.versions import spec_of
    from storage.tables import Judgment, ModelVersion

    judgment = session.get(Judgment, judgment_id)
    if judgment is None:
        raise NotFoundError(f"no judgment {judgment_id}")
    version = session.get(ModelVersion, judgment.model_version_id) if judgment.model_version_id else None
    if version is None or not version.head_path:
        raise GramError("this verdict is not a judge head's: only a head's verdict splits over its words")
    return spec_of(version), load_head(version.head_path), PairText.of(judgment.pair)
