"""The preference-proving step: given a task and its label, write a rationale ("proof") for it.

The proving model (default: the current judge, prompted with the task and the label) samples k
proofs; the kept one maximises GRAM-R²'s Score(s, l, ẑ) = −log π(ẑ | s, l) / log π(ẑ).
Our choices where the paper is silent: log-probabilities are summed over the proof's tokens;
"on its own" means the same chat template with an empty user message, so only the task and the
label are taken away. Rule checks then drop proofs that are too long, do not support the label,
or break the format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.backends.base import Backend, Sampling
from core.judge.generative import guided_generate
from core.judge.verdict import named_letters, parse_verdict
from core.text.pair import PairText
from core.text.prompting import PromptBuilder, chat_prompt
from core.vocab import Protocol

PROVE_INSTRUCTION = (
    "\n\nThe better response is Response {label}. Write the analysis that shows why, in the format "
    "above, and conclude with Response {label}."
)
SECTIONS = ("Feedback:", "Comparision:", "Conclusion:")


@dataclass(frozen=True)
class Proof:
    rationale: str
    score: float  # −log π(ẑ|s,l) / log π(ẑ), in (−inf, 0]; higher is better
    logp_given_task: float
    logp_alone: float


def proof_score(logp_given_task: float, logp_alone: float) -> float:
    """GRAM-R²'s selection score; both arguments are (negative) summed log-probabilities."""
    if logp_alone >= 0:
        return float("-inf")  # an empty or certain proof says nothing
    return -logp_given_task / logp_alone


def select_proof(candidates: Sequence[Proof]) -> Proof | None:
    return max(candidates, key=lambda p: p.score, default=None)


def prove_prompt(builder: PromptBuilder, pair: PairText, label: str) -> str:
    """The proving prompt: the GRAM-R² task with the label stated at the end of the message."""
    suffix = PROVE_INSTRUCTION.format(label=label)
    return builder.build(Protocol.GRAM_R2, pair.prompt, pair.response_a, pair.response_b, suffix=suffix)[0]


def _think(reply: str) -> str:
    """The rationale part of a reply (the text inside <think>, or before any <answer>)."""
    verdict = parse_verdict(reply)
    if verdict.rationale:
        return verdict.rationale.strip()
    text = re.sub(r"</?think>", "", reply.split("<answer>")[0], flags=re.IGNORECASE)
    return text.strip()


def prove(
    backend: Backend,
    pairs: Sequence[PairText],
    labels: Sequence[str],
    *,
    k: int = 4,
    temperature: float = 0.75,
    max_new_tokens: int = 256,
    guided: bool = False,
    seed: int = 0,
) -> list[list[Proof]]:
    """k scored proofs for each (pair, label), best first."""
    builder = PromptBuilder(backend.tokenizer, backend.max_model_len, reserved=max_new_tokens)
    prompts = [prove_prompt(builder, pair, label) for pair, label in zip(pairs, labels, strict=True)]
    sampling = Sampling(max_new_tokens=max_new_tokens, temperature=temperature, n=k, seed=seed)
    replies = guided_generate(backend, prompts, sampling) if guided else backend.generate(prompts, sampling)
    alone = chat_prompt(backend.tokenizer, "")
    texts = [[_think(c.text) for c in group] for group in replies]
    flat = [(prompt, text) for prompt, group in zip(prompts, texts, strict=True) for text in group]
    given_task = backend.continuation_logprobs(flat)
    on_own = backend.continuation_logprobs([(alone, text) for _, text in flat])
    results, at = [], 0
    for group in texts:
        proofs = []
        for text in group:
            proofs.append(Proof(text, proof_score(given_task[at], on_own[at]), given_task[at], on_own[at]))
            at += 1
        results.append(sorted(proofs, key=lambda p: p.score, reverse=True))
    return results


def rule_check(rationale: str, label: str, *, tokens: int, max_tokens: int) -> str | None:
    """Why a rationale is dropped ('too long', 'format', 'does not support the label'), or None."""
    if tokens > max_tokens:
        return "too long"
    if not rationale.strip() or "<answer>" in rationale.lower() or any(s not in rationale for s in SECTIONS):
        return "format"
    conclusion = rationale.split("Conclusion:", 1)[1]
    named = named_letters(conclusion)
    if named and label not in named:
        return "does not support the label"
    return None
