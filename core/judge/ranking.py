"""Ranking many responses with a pairwise judge (GRAM-R² §3), and the RLHF reward.

Every method takes a `Compare`: a batch of (prompt, x, y) -> P(x better than y). Batches are
what make the knockout fast: each round's comparisons go to the backend together.

- best_of_n: keep a current best, let each other candidate challenge it: n-1 comparisons.
- knockout: the same n-1 comparisons in ceil(log2 n) rounds (byes for odd counts).
- full_ranking: a comparison sort (merge sort: O(n log n) comparisons, batched per merge level).
- rlhf_reward: P(sampled response beats the policy's greedy reference).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.backends import Backend
from core.data.pair_record import RowError
from core.errors import GramError, InputFileError
from core.head.fast_path import score_pairs
from core.judge.generative import JudgeOptions, judge_pairs
from core.text.pair import PairText

Compare = Callable[[Sequence[PairText]], list[float]]


def backend_comparator(backend: Backend, *, fast: bool = True, options: JudgeOptions | None = None) -> Compare:
    """P(x better than y) from the fast path (swap-averaged) or the generative judge."""

    def compare(pairs: Sequence[PairText]) -> list[float]:
        if not pairs:
            return []
        if fast:
            return [s.prob_a for s in score_pairs(backend, pairs, both_orders=True)]
        return [j.prob_a for j in judge_pairs(backend, pairs, options or JudgeOptions(both_orders=True))]

    return compare


@dataclass
class Ranking:
    order: list[int]  # candidate indices, best first (for best_of_n/knockout: the winner only)
    comparisons: int = 0
    rounds: int = 0
    log: list[tuple[int, int, float]] = field(default_factory=list)  # (x, y, P(x beats y))


def best_of_n(prompt: str, candidates: Sequence[str], compare: Compare) -> Ranking:
    result = Ranking([0])
    best = 0
    for challenger in range(1, len(candidates)):
        (p,) = compare([PairText(prompt, candidates[challenger], candidates[best])])
        result.log.append((challenger, best, p))
        result.comparisons += 1
        result.rounds += 1
        if p > 0.5:
            best = challenger
    result.order = [best]
    return result


def knockout(prompt: str, candidates: Sequence[str], compare: Compare) -> Ranking:
    result = Ranking([])
    alive = list(range(len(candidates)))
    while len(alive) > 1:
        pairs = [(alive[i], alive[i + 1]) for i in range(0, len(alive) - 1, 2)]
        probs = compare([PairText(prompt, candidates[x], candidates[y]) for x, y in pairs])
        winners = [x if p > 0.5 else y for (x, y), p in zip(pairs, probs, strict=True)]
        result.log += [(x, y, p) for (x, y), p in zip(pairs, probs, strict=True)]
        result.comparisons += len(pairs)
        result.rounds += 1
        alive = winners + ([alive[-1]] if len(alive) % 2 else [])  # odd one out gets a bye
    result.order = alive
    return result


def full_ranking(prompt: str, candidates: Sequence[str], compare: Compare) -> Ranking:
    """Bottom-up merge sort; at each level, all merges advance one comparison per batch."""
    result = Ranking([])
    runs = [[i] for i in range(len(candidates))]
    while len(runs) > 1:
        merges = [(runs[i], runs[i + 1]) for i in range(0, len(runs) - 1, 2)]
        states: list[tuple[list[int], list[int], list[int]]] = [([], left, right) for left, right in merges]
        while any(left and right for _, left, right in states):
            active = [s for s in states if s[1] and s[2]]
            probs = compare([PairText(prompt, candidates[s[1][0]], candidates[s[2][0]]) for s in active])
            result.comparisons += len(active)
            result.rounds += 1
            for (merged, left, right), p in zip(active, probs, strict=True):
                result.log.append((left[0], right[0], p))
                merged.append(left.pop(0) if p > 0.5 else right.pop(0))
        merged_runs = [merged + left + right for merged, left, right in states]
        runs = merged_runs + ([runs[-1]] if len(runs) % 2 else [])
    result.order = runs[0] if runs else []
    return result


def rlhf_reward(prompt: str, sampled: str, reference: str, compare: Compare) -> float:
    """GRAM's RLHF reward: the probability that `sampled` beats the greedy `reference`."""
    (p,) = compare([PairText(prompt, sampled, reference)])
    return p


METHODS = {"best-of-n": best_of_n, "knockout": knockout, "sort": full_ranking}


@dataclass(frozen=True)
class RankRequest:
    """One row of a ranking file: a prompt and the responses to rank."""

    prompt: str
    responses: list[str]


def read_rank_requests(path: Path) -> list[RankRequest]:
    """The rows of a JSONL file of {prompt, responses: [...]}; a bad row is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(str(path), f"cannot read it ({error})") from error
    requests = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise GramError(str(RowError(str(path), number, None, f"not JSON ({error.msg})"))) from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise GramError(str(RowError(str(path), number, "prompt", "needs the prompt as text")))
        responses = row.get("responses")
        if not isinstance(responses, list) or len(responses) < 2 or not all(isinstance(r, str) for r in responses):
            raise GramError(str(RowError(str(path), number, "responses", "needs a list of 2 or more texts")))
        requests.append(RankRequest(row["prompt"], responses))
    return requests


def rank_all(requests: Sequence[RankRequest], compare: Compare, method: str) -> Iterator[dict[str, Any]]:
    """Rank each request with `method` (a key of METHODS), yielding its result row as soon as it
    is ranked: a caller writes it out and keeps nothing (memory stays flat however long the file)."""
    rank = METHODS[method]
    for request in requests:
        ranking = rank(request.prompt, request.responses, compare)
        yield {
            "prompt": request.prompt,
            "method": method,
            "ranking": ranking.order,
            "best": request.responses[ranking.order[0]],
            "comparisons": ranking.comparisons,
            "rounds": ranking.rounds,
        }
