"""transformers backend: batched, length-sorted, left-padded generation; CPU or GPU (bf16)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core.backends.base import Backend, Completion, Sampling, TokenStates
from core.backends.precision import tolerance_of
from core.backends.shared_prefix import MIN_SHARED_TOKENS, Family, PrefixCache, plan, shared_length
from core.errors import ModelError
from core.model.spec import ModelSpec
from core.text.prompting import LabelSlot
from core.vocab import BackendName


@dataclass(frozen=True)
class _Pass:
    """One batch's forward pass: which texts, and their next-token log-probabilities."""

    indices: list[int]
    logprobs: Any  # [batch, vocabulary] after each text's last token
    offsets: Any | None  # [batch, tokens, 2]: characters of the tokens this pass ran, where asked


class TransformersBackend(Backend):
    name = BackendName.TRANSFORMERS

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 8,
        device: str | None = None,
        dtype: str | None = None,
        reuse_prefix: bool = True,
        threads: int | None = None,
        **_: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(spec)
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.threads: int | None = None  # a GPU's work is not on the CPU's threads
        if self.device == "cpu":
            from core.backends.threads import free_threads
            from core.settings import get_settings

            # torch's thread count is the process's: the last backend loaded sets it, for the load
            # the machine has now (oversubscribed cores slow every step).
            self.threads = free_threads(threads if threads is not None else get_settings().threads)
            torch.set_num_threads(self.threads)
        # bf16 on GPU; fp32 on CPU, where bf16 matmuls are slower on most cores; `dtype` overrides.
        self.precision = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        tolerance_of(self.precision)  # an unknown dtype fails here, before the model loads
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.path)
            model: Any = AutoModelForCausalLM.from_pretrained(spec.path, dtype=getattr(torch, self.precision))
        except (OSError, ValueError, KeyError) as error:  # a folder that is not a model transformers reads
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ModelError(f"cannot load model '{spec.path}': {first}") from None
        if spec.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec.adapter)
        self.model = model.to(self.device).eval()
        self.tokenizer.padding_side = "left"  # generation continues at the right edge
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_model_len = int(getattr(model.config, "max_position_embeddings", 4096))
        # Scoring runs the tokens every prompt shares once (core/backends/shared_prefix.py).
        self.reuse_prefix = reuse_prefix
        self._prefix = PrefixCache(self.model)

    def _batches(self, prompts: Sequence[str]) -> Iterator[list[int]]:
        """Indices of `prompts` in batches of similar length."""
        return self._ordered([len(self.tokenizer.encode(p, add_special_tokens=False)) for p in prompts])

    def _encode(self, texts: list[str]) -> dict[str, Any]:
        # The chat template already holds the special tokens.
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in batch.items()}

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        import torch

        results: list[list[Completion]] = [[] for _ in prompts]
        stop_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        for indices in self._batches(prompts):
            inputs = self._encode([prompts[i] for i in indices])
            torch.manual_seed(sampling.seed)
            sample = sampling.temperature > 0
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=sampling.max_new_tokens,
                    min_new_tokens=sampling.min_new_tokens or None,
                    do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None,
                    top_k=None,
                    num_return_sequences=sampling.n,
                    stop_strings=list(sampling.stop) or None,
                    tokenizer=self.tokenizer,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
            for row, ids in enumerate(new_tokens):
                length = next((k for k, t in enumerate(ids) if t in stop_ids), len(ids))
                text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
                results[indices[row // sampling.n]].append(Completion(text, length))
        return results

    def label_logprobs(self, slots: Sequence[LabelSlot]) -> list[tuple[float, float]]:
        results: list[tuple[float, float]] = [(0.0, 0.0)] * len(slots)
        for step in self._last_positions([s.text for s in slots]):
            for row, i in enumerate(step.indices):
                results[i] = _letters(step.logprobs[row], slots[i])
        return results

    def _last_positions(self, texts: Sequence[str], keep_before: Sequence[int] | None = None) -> Iterator[_Pass]:
        """Forward passes over `texts` in batches of similar length, each giving the log-probabilities
        after each text's last token. Tokens that texts share run once (core/backends/shared_prefix.py),
        and only before character `keep_before[i]` of text i where given (what the caller reads
        token by token must run in the text's own pass)."""
        import torch

        encoded = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=keep_before is not None)
        ids: list[list[int]] = encoded["input_ids"]
        offsets: list[list[tuple[int, int]]] | None = encoded.get("offset_mapping")
        limits = [len(row) - 1 for row in ids]  # a text's last token always runs in its own pass
        if offsets is not None and keep_before is not None:
            limits = [min(n, _tokens_before(o, k)) for n, o, k in zip(limits, offsets, keep_before, strict=True)]
        start = min([shared_length(ids), *limits]) if self.reuse_prefix and len(ids) > 1 else 0
        start = start if start >= MIN_SHARED_TOKENS else 0
        for families in plan(ids, limits if self.reuse_prefix else [0] * len(ids), start, self.batch_size):
            indices = [i for family in families for i in family.members]
            cache, attention = self._cache_of_shared(ids, start, families)
            offset = [start + family.shared for family in families for _ in family.members]
            own, own_mask, positions = _left_padded(
                [ids[i][o:] for i, o in zip(indices, offset, strict=True)], self.tokenizer.pad_token_id
            )
            attention = torch.cat([attention, own_mask], -1)
            with torch.inference_mode():
                # Only the last position's logits: the others would cost batch x length x vocabulary.
                logits = self.model(
                    input_ids=own.to(self.device),
                    attention_mask=attention.to(self.device),
                    position_ids=(torch.tensor(offset).unsqueeze(-1) + positions).to(self.device),
                    past_key_values=cache,
                    logits_to_keep=1,
                ).logits
            own_offsets = None
            if offsets is not None:
                width = own.shape[1]
                padded = [
                    [(0, 0)] * (width - len(offsets[i]) + o) + offsets[i][o:]
                    for i, o in zip(indices, offset, strict=True)
                ]
                own_offsets = torch.tensor(padded, device=self.device).reshape(len(indices), width, 2)
            yield _Pass(indices, torch.log_softmax(logits[:, -1, :].float(), dim=-1), own_offsets)

    def _cache_of_shared(self, ids: Sequence[Sequence[int]], start: int, families: Sequence[Family]) -> tuple[Any, Any]:
        """The key/value cache of the tokens each text of the batch shares (the first `start` tokens
        of all texts, then its family's), one row per text, and those tokens' attention mask."""
        import torch

        cache, attention = None, torch.ones(len(families), start, dtype=torch.long)
        if start:
            cache = self._prefix.for_batch(ids[0][:start], len(families))
        if any(family.shared for family in families):  # each family's shared tokens, once per family
            parts = [ids[family.members[0]][start : start + family.shared] for family in families]
            part, part_mask, positions = _left_padded(parts, self.tokenizer.pad_token_id)
            attention = torch.cat([attention, part_mask], -1)
            with torch.inference_mode():
                self.model(
                    input_ids=part.to(self.device),
                    attention_mask=attention.to(self.device),
                    position_ids=(start + positions).to(self.device),
                    past_key_values=cache,
                    logits_to_keep=1,
                )
        rows = torch.tensor([k for k, family in enumerate(families) for _ in family.members])
        if cache is not None:
            cache.batch_select_indices(rows.to(self.device))
        return cache, attention[rows]

    def _ordered(self, lengths: Sequence[int]) -> Iterator[list[int]]:
        """Indices in batches of similar length (longest first: fails fast on OOM)."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    @property
    def reads_hidden_states(self) -> bool:
        return True

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def slot_states(self, slots: Sequence[LabelSlot], layers: Sequence[int], pools: Sequence[str] = ()) -> Any:
        return self.slot_states_and_logprobs(slots, layers, pools)[0]

    def slot_states_and_logprobs(
        self, slots: Sequence[LabelSlot], layers: Sequence[int], pools: Sequence[str] = ()
    ) -> tuple[Any, list[tuple[float, float]]]:
        """`slot_states` and `label_logprobs` from the same forward passes."""
        import torch

        decoder = self._decoder_layers()
        captured: dict[int, Any] = {}

        def keep(index: int) -> Any:
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                hidden = output[0] if isinstance(output, tuple) else output
                # Every position only where a pool reads them; left padding: the slot is the last.
                captured[index] = (hidden if pools else hidden[:, -1:, :]).float()

            return hook

        hooks = [decoder[i].register_forward_hook(keep(i)) for i in layers]
        rows: list[Any] = [None] * len(slots)
        scores: list[tuple[float, float]] = [(0.0, 0.0)] * len(slots)
        # The responses' tokens must run in each batch's own pass for the pools to read them.
        keep_before = [min((s.spans[0][0], s.spans[1][0]) if s.spans else (0,)) for s in slots] if pools else None
        try:
            for step in self._last_positions([s.text for s in slots], keep_before):
                batch = [slots[i] for i in step.indices]
                masks = _span_masks(step.offsets, batch) if pools else []
                parts = []
                for i in layers:
                    hidden = captured[i]
                    parts += [hidden[:, -1, :]] + [_pooled(hidden, mask, pool) for pool in pools for mask in masks]
                states = torch.cat(parts, dim=-1).cpu()
                for row, i in enumerate(step.indices):
                    rows[i] = states[row]
                    scores[i] = _letters(step.logprobs[row], slots[i])
        finally:
            for hook in hooks:
                hook.remove()
        return (torch.stack(rows) if rows else torch.zeros(0, 0)), scores

    def token_states(self, slot: LabelSlot, layers: Sequence[int]) -> TokenStates:
        """One slot in a pass of its own (no padding, no shared prefix), every position kept."""
        import torch

        decoder = self._decoder_layers()
        captured: dict[int, Any] = {}

        def keep(index: int) -> Any:
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                captured[index] = (output[0] if isinstance(output, tuple) else output).float()

            return hook

        encoded = self.tokenizer(
            [slot.text], return_tensors="pt", add_special_tokens=False, return_offsets_mapping=True
        )
        offsets = encoded.pop("offset_mapping")
        hooks = [decoder[i].register_forward_hook(keep(i)) for i in layers]
        try:
            with torch.inference_mode():
                self.model(**{k: v.to(self.device) for k, v in encoded.items()})
        finally:
            for hook in hooks:
                hook.remove()
        hidden = torch.stack([captured[i][0].cpu() for i in layers])  # [layers, tokens, hidden]
        masks = [mask[0] for mask in _span_masks(offsets, [slot])]
        spans = tuple([tuple(int(x) for x in offsets[0][j]) for j in range(len(m)) if m[j]] for m in masks)
        return TokenStates(hidden[:, -1, :], spans, (hidden[:, masks[0], :], hidden[:, masks[1], :]))  # type: ignore[arg-type]

    def _decoder_layers(self) -> Any:
        """The model's list of decoder layers (the one ModuleList as long as the config says)."""
        import torch

        count = int(self.model.config.num_hidden_layers)
        for module in self.model.modules():
            if isinstance(module, torch.nn.ModuleList) and len(module) == count:
                return module
        raise ModelError(f"cannot find the decoder layers of '{self.spec.path}' to read a judge head's features")

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        results = [0.0] * len(pairs)
        for indices in self._batches([prefix + continuation for prefix, continuation in pairs]):
            texts = [pairs[i][0] + pairs[i][1] for i in indices]
            inputs = self._encode(texts)
            positions = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logprobs = torch.log_softmax(self.model(**inputs, position_ids=positions).logits.float(), dim=-1)
            width = inputs["input_ids"].shape[1]
            for row, i in enumerate(indices):
                ids, begins = self.continuation_tokens(*pairs[i])
                start = width - len(ids) + begins  # left-padded: the text ends at the right edge
                ids = inputs["input_ids"][row, start:]
                picked = logprobs[row, start - 1 : width - 1].gather(-1, ids.unsqueeze(-1))
                results[i] = float(picked.sum())
        return results


def _left_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any, Any]:
    """(ids, attention mask, positions) of token rows left-padded to one width; positions count each
    row's real tokens from 0, as generate() does, so a padded row scores as an unpadded one."""
    import torch

    width = max(len(row) for row in rows)
    ids = torch.tensor([[pad] * (width - len(row)) + list(row) for row in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], dtype=torch.long)
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def _tokens_before(offsets: Sequence[tuple[int, int]], char: int) -> int:
    """How many leading tokens end at or before character `char`."""
    return next((n for n, (_, end) in enumerate(offsets) if end > char), len(offsets))


def _letters(logprobs: Any, slot: LabelSlot) -> tuple[float, float]:
    """(log P(A), log P(B)) at a slot, from its row of next-token log-probabilities."""
    return logprobs[slot.token_a].item(), logprobs[slot.token_b].item()


def _span_masks(offsets: Any, slots: Sequence[LabelSlot]) -> list[Any]:
    """[first, second]: for each text of the batch, which tokens overlap that response's characters
    (none where a slot has no spans: its pools are then zero; padding's offsets (0, 0) overlap none)."""
    import torch

    starts, ends = offsets[..., 0], offsets[..., 1]
    masks = []
    for which in (0, 1):
        bounds = torch.tensor([s.spans[which] if s.spans else (0, 0) for s in slots], device=offsets.device)
        start, end = bounds[:, :1], bounds[:, 1:]
        masks.append((starts < end) & (ends > start))
    return masks


def _pooled(hidden: Any, mask: Any, pool: str) -> Any:
    """The mean or max of `hidden` [batch, tokens, d] over the tokens in `mask`; zero where none are."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    count = weights.sum(1)
    if pool == "mean":
        return (hidden * weights).sum(1) / count.clamp(min=1)
    if pool == "max":
        best = hidden.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return torch.where(count > 0, best, torch.zeros_like(best))
    raise ModelError(f"unknown pool {pool!r} for a judge head (mean or max)")
