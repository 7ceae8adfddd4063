"""The GRAM-R² prompt protocol: the released checkpoints' instruction texts, filled in exactly.

The texts in core/text/prompts/ are copied byte for byte from NiuTrans/GRAM (Apache-2.0; see
core/text/prompts/NOTICE). They are sent as one user message through the model's chat template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from core.vocab import Protocol

_PLACEHOLDER = re.compile(r"\{(user_input|response_1|response_2|input|response_a|response_b)\}")


@cache
def instruction_text(name: str) -> str:
    """The instruction template `name` ('gram_r2' or 'gram_label_only'), exactly as released."""
    return (files("core.text.prompts") / f"{name}.txt").read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so a "{response_2}" inside a user's text is left as it is.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


Span = tuple[int, int]  # [start, end) in characters


def _filled_spans(template: str, values: dict[str, str]) -> dict[str, Span]:
    """Where each value lands in `_fill(template, values)`: read off the template, never searched
    for in the text (a response may quote the other, or the template's own words)."""
    spans, shift = {}, 0
    for match in _PLACEHOLDER.finditer(template):
        start = match.start() + shift
        spans[match.group(1)] = (start, start + len(values[match.group(1)]))
        shift += len(values[match.group(1)]) - len(match.group(0))
    return spans


def gram_r2_user_message(prompt: str, response_a: str, response_b: str) -> str:
    """The rationale protocol's user message (the checkpoints' own placeholder names)."""
    return _fill(
        instruction_text("gram_r2"),
        {"user_input": prompt, "response_1": response_a, "response_2": response_b},
    )


def label_only_user_message(prompt: str, response_a: str, response_b: str) -> str:
    """GRAM's label-only protocol; the message ends in '#Preferred: ' and the answer is A or B."""
    return _fill(
        instruction_text("gram_label_only"),
        {"input": prompt, "response_a": response_a, "response_b": response_b},
    )


def rationale_target(rationale: str, label: str) -> str:
    """The assistant reply a GRAM-R² model is trained to write: rationale, then the label."""
    return f"<think>\n{rationale.strip()}\n</think>\n<answer>\n{label}\n</answer>"


# --- fitting a task into the model's context ---------------------------------------------------

TRUNCATION_MARK = " […]"


def fit_to_budget(
    count: Callable[[str], int],
    cut: Callable[[str, int, bool], str],
    prompt: str,
    response_a: str,
    response_b: str,
    budget: int,
) -> tuple[str, str, str, bool]:
    """Shorten the three texts to `budget` tokens in all; returns them and whether any was cut.

    The rule: if they do not fit, every text longer than a common cap c is cut to c tokens,
    with c the largest cap that fits (so short texts are never cut and long ones share the
    room equally). The prompt keeps its end (the latest turn and the question); a response
    keeps its beginning. A cut text ends or starts with " […]". Both responses always stay in,
    and the answer slot is outside the budget, so it always fits.
    """
    texts = [prompt, response_a, response_b]
    lengths = [count(t) for t in texts]
    if sum(lengths) <= budget:
        return prompt, response_a, response_b, False
    room = max(budget - 3 * count(TRUNCATION_MARK), 3)
    cap, remaining, left = room // 3, room, sorted(lengths)
    for index, length in enumerate(left):  # water-filling: small texts give their slack away
        share = remaining // (len(left) - index)
        if length <= share:
            remaining -= length
        else:
            cap = share
            break
    fitted = [t if n <= cap else cut(t, cap, i == 0) for i, (t, n) in enumerate(zip(texts, lengths, strict=True))]
    return fitted[0], fitted[1], fitted[2], True


def tokenizer_cutter(tokenizer: Any) -> tuple[Callable[[str], int], Callable[[str, int, bool], str]]:
    """Token counting and cutting with a Hugging Face tokenizer (for fit_to_budget)."""

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    def cut(text: str, tokens: int, keep_end: bool) -> str:
        ids = tokenizer.encode(text, add_special_tokens=False)
        if keep_end:
            return TRUNCATION_MARK.lstrip() + " " + tokenizer.decode(ids[-tokens:])
        return tokenizer.decode(ids[:tokens]) + TRUNCATION_MARK

    return count, cut


def chat_prompt(tokenizer: Any, user_message: str) -> str:
    """One user message through the model's own chat template, generation prompt added."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
    )


SLOT_MARGIN = 16  # tokens kept free for the answer slot and re-tokenisation at cut points


class PromptBuilder:
    """Chat prompts for a model, fitted into its context by the stated truncation rule.

    `reserved` tokens stay free after the prompt: the reply to generate (judging) or the
    target to learn (training)."""

    def __init__(self, tokenizer: Any, context_len: int, reserved: int) -> None:
        self.tokenizer = tokenizer
        self.context_len = context_len
        self.reserved = reserved
        self.count, self.cut = tokenizer_cutter(tokenizer)
        self._overhead: dict[str, int] = {}

    def build(
        self, protocol: str, prompt: str, first: str, second: str, *, reserved: int | None = None, suffix: str = ""
    ) -> tuple[str, bool]:
        """The chat prompt for `protocol` ('gram-r2' or 'label-only'), and whether a text was cut.
        `suffix` is appended to the user message (the proving step states the label there)."""
        message = gram_r2_user_message if protocol == Protocol.GRAM_R2 else label_only_user_message
        prompt, first, second, cut = self._fit(protocol, prompt, first, second, reserved, suffix)
        return chat_prompt(self.tokenizer, message(prompt, first, second) + suffix), cut

    def label_only_with_spans(self, prompt: str, first: str, second: str) -> tuple[str, tuple[Span, Span] | None]:
        """The label-only prompt, and where its two responses (as cut to fit) sit in it; None where
        the chat template does not keep the message verbatim."""
        prompt, first, second, _ = self._fit(Protocol.LABEL_ONLY, prompt, first, second, None, "")
        values = {"input": prompt, "response_a": first, "response_b": second}
        template = instruction_text("gram_label_only")
        message = _fill(template, values)
        text = chat_prompt(self.tokenizer, message)
        at = text.find(message)
        if at < 0:
            return text, None
        spans = _filled_spans(template, values)
        (a0, a1), (b0, b1) = spans["response_a"], spans["response_b"]
        return text, ((at + a0, at + a1), (at + b0, at + b1))

    def _fit(
        self, protocol: str, prompt: str, first: str, second: str, reserved: int | None, suffix: str
    ) -> tuple[str, str, str, bool]:
        message = gram_r2_user_message if protocol == Protocol.GRAM_R2 else label_only_user_message
        if protocol not in self._overhead:
            self._overhead[protocol] = self.count(chat_prompt(self.tokenizer, message("", "", "")))
        room = (self.reserved if reserved is None else reserved) + (self.count(suffix) if suffix else 0)
        budget = self.context_len - self._overhead[protocol] - room - SLOT_MARGIN
        return fit_to_budget(self.count, self.cut, prompt, first, second, budget)


# --- where the label token goes ------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSlot:
    """A text whose next token is the label, and the ids of the tokens 'A' and 'B' there."""

    text: str
    token_a: int
    token_b: int
    # Where the two responses sit in `text` (characters), for a judge head's pooled features.
    spans: tuple[Span, Span] | None = None


@lru_cache(maxsize=4096)
def _slot_tokens(tokenizer: Any, ending: str) -> tuple[int, int, int] | None:
    """For a text with this ending: (chars to drop from the end, id of A, id of B), or None."""
    for drop in range(0, len(ending) - len(ending.rstrip()) + 1):
        head, tail = ending[: len(ending) - drop], ending[len(ending) - drop :]
        base = tokenizer.encode(head, add_special_tokens=False)
        ids = []
        for letter in "AB":
            full = tokenizer.encode(head + tail + letter, add_special_tokens=False)
            if full[: len(base)] != base or len(full) != len(base) + 1:
                break
            ids.append(full[-1])
        if len(ids) == 2:
            return drop, ids[0], ids[1]
    return None


def label_slot(tokenizer: Any, text: str, spans: tuple[Span, Span] | None = None) -> LabelSlot:
    """The scoring point after `text`. If the text ends in whitespace that the tokenizer merges
    into the label (SmolLM2 reads '#Preferred: A' as '#Preferred:' + ' A'), the whitespace
    moves into the label token, so the score matches how a trained model saw its answer."""
    found = _slot_tokens(tokenizer, text[-24:])
    if found is None:
        raise ValueError(f"cannot find single label tokens after {text[-20:]!r}")
    drop, token_a, token_b = found
    return LabelSlot(text[: len(text) - drop] if drop else text, token_a, token_b, spans)


def two_way(logprob_a: float, logprob_b: float) -> float:
    """P(A) with the softmax taken over the two label tokens only."""
    top = max(logprob_a, logprob_b)
    ea, eb = math.exp(logprob_a - top), math.exp(logprob_b - top)
    return ea / (ea + eb)
