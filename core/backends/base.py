"""The one interface every inference backend implements: generate text, and score the label.

A backend gets finished prompt strings (the chat template already applied by `chat_prompt`,
so every backend sends the same tokens) and returns completions, or the log-probabilities of
the tokens 'A' and 'B' at a label slot. Everything GRAM-specific lives in core/judge/generative.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.backends.precision import tolerance_of
from core.errors import ModelError
from core.model.spec import ModelSpec
from core.text.prompting import LabelSlot, chat_prompt


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    n: int = 1  # completions per prompt (voting@k)
    seed: int = 0
    stop: tuple[str, ...] = ("</answer>",)
    min_new_tokens: int = 0  # generate at least this many (benchmarks: a full-length rationale)


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int  # generated tokens


@dataclass(frozen=True)
class TokenStates:
    """One slot's hidden states at the layers a head reads, token by token (`Backend.token_states`)."""

    slot: Any  # [layers, hidden]: the state at the slot (the last token)
    spans: tuple[list[tuple[int, int]], list[tuple[int, int]]]  # each response's tokens: (start, end) in the text
    states: tuple[Any, Any]  # each response's tokens' states: [layers, tokens, hidden]


class Backend(ABC):
    name: str = ""
    tokenizer: Any
    max_model_len: int
    # The dtype the model computes in; it sets how close to 0.5 a P(A) is undecided.
    precision: str = "float32"

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def chat_prompt(self, user_message: str) -> str:
        """One user message through the model's own chat template, generation prompt added."""
        return chat_prompt(self.tokenizer, user_message)

    @abstractmethod
    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        """`sampling.n` completions for each prompt, in the prompts' order."""

    @abstractmethod
    def label_logprobs(self, slots: Sequence[LabelSlot]) -> list[tuple[float, float]]:
        """(log P(A), log P(B)) of the next token after each slot's text, over the vocabulary."""

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Summed log P(continuation | prefix) for each (prefix, continuation): the proof score's terms."""
        raise ModelError(f"the {self.name} backend cannot score continuations; use the transformers backend")

    def continuation_tokens(self, prefix: str, continuation: str) -> tuple[list[int], int]:
        """The token ids of prefix + continuation, and where the continuation's begin: after the
        prefix's own tokens (a token merged across the seam counts as the continuation's), the
        one rule every backend scores by."""
        ids = self.tokenizer.encode(prefix + continuation, add_special_tokens=False)
        return ids, len(self.tokenizer.encode(prefix, add_special_tokens=False))

    def slot_states(self, slots: Sequence[LabelSlot], layers: Sequence[int], pools: Sequence[str] = ()) -> Any:
        """What a judge head reads: for each slot, for each of decoder layers `layers`, its hidden
        state at the slot (the last token), then for each pool in `pools` ("mean", "max") that pool
        over the first response's tokens and over the second's; a float tensor
        [len(slots), len(layers) * (1 + 2 * len(pools)) * hidden size]."""
        raise ModelError(
            f"the {self.name} backend cannot read hidden states; a judge head needs the transformers backend"
        )

    def token_states(self, slot: LabelSlot, layers: Sequence[int]) -> TokenStates:
        """The hidden states `slot_states` pools, token by token, for one slot: per layer the slot's
        state, and each response's tokens with their character spans in the slot's text."""
        raise ModelError(
            f"the {self.name} backend cannot read hidden states; a judge head needs the transformers backend"
        )

    def slot_states_and_logprobs(
        self, slots: Sequence[LabelSlot], layers: Sequence[int], pools: Sequence[str] = ()
    ) -> tuple[Any, list[tuple[float, float]]]:
        """`slot_states` and `label_logprobs` from the same forward passes."""
        return self.slot_states(slots, layers, pools), self.label_logprobs(slots)

    @property
    def undecided_within(self) -> float:
        """How close to 0.5 a fast-path P(A) is a tie here: this precision's tolerance."""
        return tolerance_of(self.precision)

    @property
    def reads_hidden_states(self) -> bool:
        """Whether `slot_states` works here (the fast path then keeps a judge head's features)."""
        return False

    @property
    def num_layers(self) -> int:
        """The model's number of decoder layers (where a judge head reads, core/head/classifier.py)."""
        raise ModelError(f"the {self.name} backend cannot read hidden states")

    def close(self) -> None:  # noqa: B027  (most backends have nothing to free)
        """Free the model (engines with worker processes must stop them)."""
