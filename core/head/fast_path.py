"""GRAM's label-only fast path: no generation, one forward pass per order.

P(A better) = [P_AB(A) + P_BA(B)] / 2 from the answer slot of the label-only prompt in both
presentation orders; or, for a model with a judge head, the head's probability from the same two
passes' hidden states (core/head/classifier.py), which are also each pair's head features (kept by
judging, core/head/features.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from core.backends.base import Backend
from core.text.pair import PairText, presented
from core.text.prompting import LabelSlot, PromptBuilder, label_slot, two_way
from core.vocab import Order, verdict_for

if TYPE_CHECKING:
    from storage.database import Database


@dataclass(frozen=True)
class FastScore:
    prob_a: float  # swap-averaged P(A better than B)
    label: str
    confidence: float
    orders: list[dict[str, Any]]
    consistent: bool | None

    def record(self) -> dict[str, Any]:
        """The fields of a storage Judgment (every field of this record is one)."""
        return asdict(self)


def score_pairs(backend: Backend, pairs: Sequence[PairText], *, both_orders: bool = True) -> list[FastScore]:
    """GRAM's label-only fast path: no generation, one forward pass per order."""
    if backend.spec.head:
        return score_pairs_and_features(backend, pairs)[0]
    orders: list[Order] = [Order.AB, Order.BA] if both_orders else [Order.AB]
    slots = fast_slots(backend, pairs, orders)
    return _slot_scores(backend.label_logprobs(slots), orders, backend.undecided_within)


def score_pairs_and_features(backend: Backend, pairs: Sequence[PairText]) -> tuple[list[FastScore], Any | None]:
    """The fast path in both orders and, where the backend reads hidden states, each pair's judge-head
    features (core/head/classifier.py) from the same forward passes; None where it cannot."""
    orders = [Order.AB, Order.BA]
    slots = fast_slots(backend, pairs, orders)
    if not backend.reads_hidden_states:
        if backend.spec.head:
            backend.slot_states(slots, [])  # raises: this backend cannot run a head
        return _slot_scores(backend.label_logprobs(slots), orders, backend.undecided_within), None
    from core.head.classifier import HEAD_POOLS, head_layers, load_head, order_features

    head = load_head(backend.spec.head) if backend.spec.head else None
    layers, pools = (head.layers, head.pools) if head else (head_layers(backend.num_layers), HEAD_POOLS)
    states, logprobs = backend.slot_states_and_logprobs(slots, layers, pools)
    features = order_features(states, len(layers), pools)
    if head is None:
        return _slot_scores(logprobs, orders, backend.undecided_within), features
    return _head_scores(head.prob_a(features).tolist(), backend.undecided_within), features


def kept_head_scores(db: Database, backend: Backend, pair_ids: Sequence[int]) -> dict[int, FastScore]:
    """The head's scores of the pairs whose features the store keeps for the backend's model without
    its head, under the recipe the head reads: every head version of one base model (the default
    judge, the instant judge, an adapted head) judges those pairs without running the model.
    Empty for a model without a head, or a backend that reads no hidden states."""
    if not backend.spec.head or not backend.reads_hidden_states or not pair_ids:
        return {}
    from core.head.classifier import load_head
    from core.head.features import FeatureSource, base_version_id, kept_features

    head = load_head(backend.spec.head)
    source = FeatureSource(base_version_id(db, backend.spec), head.layers, backend.max_model_len, head.pools)
    with db.session() as session:
        ids, features = kept_features(session, source.version_id, source.recipe, pair_ids)
    if features is None:
        return {}
    scores = _head_scores(head.prob_a(features).tolist(), backend.undecided_within)
    return dict(zip(ids, scores, strict=True))


def _slot_scores(logprobs: Sequence[tuple[float, float]], orders: Sequence[Order], tie: float) -> list[FastScore]:
    """Fast-path scores from the answer slot's log P(A), log P(B) (pair-major, one per order); a
    P(A) within `tie` of 0.5 is undecided."""
    scores = []
    for i in range(len(logprobs) // len(orders)):
        per_order: list[dict[str, Any]] = []
        for j, order in enumerate(orders):
            p_first = two_way(*logprobs[i * len(orders) + j])
            prob_a = p_first if order == Order.AB else 1.0 - p_first
            per_order.append({"order": order, "prob_a": prob_a, "label": verdict_for(prob_a, tie)})
        prob_a = sum(o["prob_a"] for o in per_order) / len(per_order)
        label = verdict_for(prob_a, tie)
        consistent = per_order[0]["label"] == per_order[1]["label"] if len(orders) == 2 else None
        scores.append(FastScore(prob_a, label, max(prob_a, 1 - prob_a), per_order, consistent))
    return scores


def fast_slots(backend: Backend, pairs: Sequence[PairText], orders: Sequence[Order]) -> list[LabelSlot]:
    """The label-only prompt's answer slot for each pair in each order (pair-major)."""
    builder = PromptBuilder(backend.tokenizer, backend.max_model_len, reserved=0)
    return [
        label_slot(backend.tokenizer, *builder.label_only_with_spans(*presented(pair, order)))
        for pair in pairs
        for order in orders
    ]


def _head_scores(probs: Sequence[float], tie: float) -> list[FastScore]:
    scores = []
    for p in probs:
        # The head gives the swapped presentation exactly 1 - p: both orders agree by construction.
        label = verdict_for(p, tie)
        per_order = [{"order": o, "prob_a": p, "label": label, "head": True} for o in (Order.AB, Order.BA)]
        scores.append(FastScore(p, label, max(p, 1 - p), per_order, True))
    return scores
