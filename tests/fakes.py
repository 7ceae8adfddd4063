"""A scripted backend for the fast tier: no model is loaded, the answers are fixed rules.

As llm's `MockModel` and prometheus-eval's `MockLLM`, it stands in wherever the subject of a test
is something else (the store, jobs, pages, heads' bookkeeping). Its tokenizer is a real Hugging
Face tokenizer made in memory (byte-level, one token per byte, a ChatML template), so prompting,
truncation and label slots run their real code. Its rules are deterministic functions of the text:

- the fast path's label slot leans towards the longer response (log-odds `lean`), or a test's
  own rule; the answer slot after a written reply leans to the response the reply names last;
- generation writes a well-formed GRAM-R² reply for that label, or a test's scripted replies;
- hidden states are hashed bags of words, so a head can learn a content criterion from them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import torch

from core.backends.base import Backend, Completion, Sampling
from core.model.spec import ModelSpec
from core.text.prompting import LabelSlot

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HIDDEN = 32
LAYERS = 4
SCRIPTED_SPEC = ModelSpec("scripted", "scripted")


@cache
def byte_tokenizer() -> Any:
    """A byte-level tokenizer with no merges: every text round-trips, 'A' and 'B' are one token each."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {byte: i for i, byte in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    model = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    model.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model, eos_token="<|im_end|>", pad_token="<|im_end|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tokenizer.chat_template = CHATML
    return tokenizer


def _unit(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")


def bag_of_words(text: str) -> torch.Tensor:
    """A text's words hashed into HIDDEN signed buckets, scaled to unit length."""
    vector = torch.zeros(HIDDEN)
    for word in re.findall(r"\w+", text.lower()):
        h = _unit(word)
        vector[h % HIDDEN] += 1.0 if h & 1 << 20 else -1.0
    return vector / max(1.0, float(vector.norm()))


def _responses(slot: LabelSlot) -> tuple[str, str]:
    if slot.spans is None:
        return "", ""
    (a0, a1), (b0, b1) = slot.spans
    return slot.text[a0:a1], slot.text[b0:b1]


def _named_last(text: str) -> float:
    """Log-odds of A at a slot after a written reply: towards the response it names last."""
    a, b = text.rfind("Response A"), text.rfind("Response B")
    return 0.0 if a == b else (2.5 if a > b else -2.5)


def longer_wins(first: str, second: str) -> float:
    """Log-odds of A: the longer response, by a margin that grows with the difference."""
    return math.tanh((len(first) - len(second)) / 200) * 3


def reply_for(label: str) -> str:
    """A GRAM-R² reply in the released format, arguing for `label`."""
    other = "B" if label == "A" else "A"
    return (
        f"<think>\nFeedback: Response {label} answers the question directly; Response {other} does not.\n"
        f"Comparison: Response {label} is more complete than Response {other}.\n"
        f"Conclusion: Response {label} is better.\n</think>\n<answer>\n{label}\n</answer>"
    )


class ScriptedBackend(Backend):
    """A backend whose every answer follows a rule of the text (see the module's docstring)."""

    name = "scripted"

    def __init__(
        self,
        spec: ModelSpec = SCRIPTED_SPEC,
        *,
        lean: Callable[[str, str], float] = longer_wins,
        replies: Callable[[str], str] | None = None,
        max_model_len: int = 8192,
    ) -> None:
        super().__init__(spec)
        self.tokenizer = byte_tokenizer()
        self.max_model_len = max_model_len
        self.lean = lean
        self.replies = replies

    def _logodds(self, slot: LabelSlot) -> float:
        # The fast path's slot knows where the responses are; the generative path's answer slot
        # follows the reply, which leans to the response its conclusion names.
        return self.lean(*_responses(slot)) if slot.spans is not None else _named_last(slot.text)

    def label_logprobs(self, slots: Sequence[LabelSlot]) -> list[tuple[float, float]]:
        out = []
        for slot in slots:
            z = self._logodds(slot)
            out.append((-math.log1p(math.exp(-z)), -math.log1p(math.exp(z))))
        return out

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        found = []
        for prompt in prompts:
            if self.replies is not None:
                text = self.replies(prompt)
            else:
                first, _, rest = prompt.partition("[The End of Response 1]")
                text = reply_for("A" if len(first) >= len(rest) else "B")
            tokens = len(self.tokenizer.encode(text, add_special_tokens=False))
            found.append([Completion(text, min(tokens, sampling.max_new_tokens))] * sampling.n)
        return found

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        # A continuation that repeats words of its prefix is likelier: enough for the proof score's rule.
        return [-0.1 * len(c) + 0.05 * len(set(c.split()) & set(p.split())) for p, c in pairs]

    @property
    def reads_hidden_states(self) -> bool:
        return True

    @property
    def num_layers(self) -> int:
        return LAYERS

    def slot_states(self, slots: Sequence[LabelSlot], layers: Sequence[int], pools: Sequence[str] = ()) -> Any:
        rows = []
        for slot in slots:
            first, second = _responses(slot)
            parts = []
            for layer in layers:
                parts.append(bag_of_words(first) - bag_of_words(second) + 0.01 * layer)
                for _ in pools:
                    parts += [bag_of_words(first), bag_of_words(second)]
            rows.append(torch.cat(parts))
        return torch.stack(rows) if rows else torch.zeros(0, len(layers) * (1 + 2 * len(pools)) * HIDDEN)
