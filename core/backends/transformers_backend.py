"""transformers backend: batched, length-sorted, left-padded generation; CPU or GPU (bf16)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from core.backends.base import Backend, Completion, Sampling
from core.backends.precision import tolerance_of
from core.errors import ModelError
from core.judge.prompting import LabelSlot
from core.model.spec import ModelSpec
from core.vocab import BackendName


class TransformersBackend(Backend):
    name = BackendName.TRANSFORMERS

    def __init__(
        self, spec: ModelSpec, *, batch_size: int = 8, device: str | None = None, dtype: str | None = None, **_: Any
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(spec)
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # bf16 on GPU; fp32 on CPU, where bf16 matmuls are slower on most cores; `dtype` overrides.
        self.precision = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        tolerance_of(self.precision)  # an unknown dtype fails here, before the model loads
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.path)
            model: Any = AutoModelForCausalLM.from_pretrained(spec.path, dtype=getattr(torch, self.precision))
        except OSError as error:
            raise ModelError(f"cannot load model '{spec.path}': {error}") from None
        if spec.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec.adapter)
        self.model = model.to(self.device).eval()
        self.tokenizer.padding_side = "left"  # generation continues at the right edge
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_model_len = int(getattr(model.config, "max_position_embeddings", 4096))

    def _batches(self, prompts: Sequence[str]) -> Iterator[list[int]]:
        """Indices of `prompts` in batches of similar length (longest first: fails fast on OOM)."""
        lengths = [len(self.tokenizer.encode(p, add_special_tokens=False)) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def _encode(self, texts: list[str], *, offsets: bool = False) -> dict[str, Any]:
        # The chat template already holds the special tokens.
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False, return_offsets_mapping=offsets
        )
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
        import torch

        results: list[tuple[float, float]] = [(0.0, 0.0)] * len(slots)
        for indices in self._batches([s.text for s in slots]):
            inputs = self._encode([slots[i].text for i in indices])
            # Left padding: positions must count from each row's first real token, as
            # generate() does, or padded rows would score differently from unpadded ones.
            positions = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                # Only the last position's logits: the others would cost batch x length x vocabulary.
                logits = self.model(**inputs, position_ids=positions, logits_to_keep=1).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for row, i in enumerate(indices):
                slot = slots[i]
                results[i] = (logprobs[row, slot.token_a].item(), logprobs[row, slot.token_b].item())
        return results

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
        masks: list[Any] = []  # the batch's [first, second] response-token masks, for the pools

        def keep(index: int) -> Any:
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                hidden = (output[0] if isinstance(output, tuple) else output).float()
                parts = [hidden[:, -1, :]]  # left padding: the slot is the last position
                for pool in pools:
                    parts += [_pooled(hidden, mask, pool) for mask in masks]
                captured[index] = torch.cat(parts, dim=-1)

            return hook

        hooks = [decoder[i].register_forward_hook(keep(i)) for i in layers]
        rows: list[Any] = [None] * len(slots)
        scores: list[tuple[float, float]] = [(0.0, 0.0)] * len(slots)
        try:
            for indices in self._batches([s.text for s in slots]):
                batch = [slots[i] for i in indices]
                inputs = self._encode([s.text for s in batch], offsets=bool(pools))
                if pools:
                    masks[:] = _span_masks(inputs.pop("offset_mapping"), inputs["attention_mask"], batch)
                positions = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
                with torch.inference_mode():
                    logits = self.model(**inputs, position_ids=positions, logits_to_keep=1).logits[:, -1, :]
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                states = torch.cat([captured[i] for i in layers], dim=-1).cpu()
                for row, i in enumerate(indices):
                    rows[i] = states[row]
                    scores[i] = (logprobs[row, slots[i].token_a].item(), logprobs[row, slots[i].token_b].item())
        finally:
            for hook in hooks:
                hook.remove()
        return (torch.stack(rows) if rows else torch.zeros(0, 0)), scores

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


def _span_masks(offsets: Any, attention: Any, slots: Sequence[LabelSlot]) -> list[Any]:
    """[first, second]: for each text of the batch, which tokens overlap that response's characters
    (none where a slot has no spans: its pools are then zero)."""
    import torch

    starts, ends = offsets[..., 0], offsets[..., 1]
    masks = []
    for which in (0, 1):
        bounds = torch.tensor([s.spans[which] if s.spans else (0, 0) for s in slots], device=offsets.device)
        start, end = bounds[:, :1], bounds[:, 1:]
        masks.append((starts < end) & (ends > start) & attention.bool())
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
