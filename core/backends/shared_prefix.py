"""Shared-prefix reuse for transformers: every GRAM prompt opens with the same system text and
instruction (183 tokens of a demo prompt's mean 503 with SmolLM2), and the fast path's two orders of
a pair also share the question; vLLM's prefix caching computes such tokens once. Here too, on two
levels: the prefix every text shares is run once per model (`PrefixCache`), and within a batch each
family of texts that share more (a pair's two orders: the question) runs that part once
(`Family.shared`), its key/value cache then copied to each member, whose own tokens alone run last.
The model sees the same token ids at the same positions as without reuse (tests/test_judge.py holds
the probabilities within 1e-4).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Below these many shared tokens the extra forward pass and the cache copies cost more than they save.
MIN_SHARED_TOKENS = 32
MIN_FAMILY_TOKENS = 8


@dataclass(frozen=True)
class Family:
    """Texts of one batch that share `shared` tokens after the prefix all texts share."""

    members: list[int]
    shared: int


def plan(ids: Sequence[Sequence[int]], limits: Sequence[int], start: int, batch_size: int) -> list[list[Family]]:
    """The batches (lists of families, at most `batch_size` texts each, longest first) to run `ids`
    in, after the `start` tokens all share; no family's shared part reaches past token `limits[i]`
    of a member i. Without a common prefix (start 0) every text is its own family: the family
    pass needs the prefix for its padding to attend to."""
    order = sorted(range(len(ids)), key=lambda i: list(ids[i][start:]))  # relatives end up adjacent
    groups: list[tuple[list[int], int]] = []
    for i in order:
        if start and groups and len(groups[-1][0]) < batch_size:
            members, shared = groups[-1]
            first = ids[members[0]]
            common = min(limits[i] - start, shared if len(members) > 1 else limits[members[0]] - start)
            length = 0
            while length < common and ids[i][start + length] == first[start + length]:
                length += 1
            if length >= MIN_FAMILY_TOKENS:
                groups[-1] = ([*members, i], length)
                continue
        groups.append(([i], 0))
    # Longest own parts first (the members' pass is most of the work: its padding is what costs).
    families = sorted((Family(m, s) for m, s in groups), key=lambda f: -max(len(ids[i]) - f.shared for i in f.members))
    batches: list[list[Family]] = []
    for family in families:
        if not batches or sum(len(f.members) for f in batches[-1]) + len(family.members) > batch_size:
            batches.append([])
        batches[-1].append(family)
    return batches


def shared_length(ids: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every sequence of `ids` shares, leaving each at least one of its own
    (a pass needs the last token's logits)."""
    if len(ids) < 2:
        return 0
    first, limit = ids[0], min(len(row) for row in ids) - 1
    length = 0
    while length < limit and all(row[length] == first[length] for row in ids):
        length += 1
    return length


class PrefixCache:
    """The key/value cache of the most recent shared prefix (one model, one entry: a judging run
    sends its batches with the same instruction, so one entry is hit every time)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._ids: tuple[int, ...] = ()
        self._cache: Any = None

    def for_batch(self, prefix: Sequence[int], batch_size: int) -> Any:
        """A fresh cache of `prefix` for `batch_size` rows (the forward pass appends to it)."""
        import torch

        if tuple(prefix) != self._ids:
            with torch.inference_mode():
                output = self.model(input_ids=torch.tensor([list(prefix)], device=self.model.device), use_cache=True)
            self._ids, self._cache = tuple(prefix), output.past_key_values
        cache = copy.deepcopy(self._cache)
        cache.batch_repeat_interleave(batch_size)
        return cache
