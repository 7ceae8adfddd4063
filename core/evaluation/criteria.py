"""Learnable criteria: real pairs relabelled by a visible property, to measure whether adaptation learns.

A team's criterion is often a property a reviewer can see ("the answer that gives numbers", "the
one with a list"). Each criterion here keeps the real pairs where exactly one response has the
property and labels that one better. The pairs are balanced so that no shortcut solves them:
half have the better response shorter, half longer, and it sits at A or B by a stable coin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.data.identity import stable_coin
from core.text.pair import PairText


@dataclass(frozen=True)
class Criterion:
    name: str
    kind: str  # content, format or style
    description: str
    has: Callable[[str], bool]


CRITERIA = (
    Criterion(
        "numbers",
        "content",
        "the response that gives a number (a digit) is better",
        lambda t: bool(re.search(r"\d", t)),
    ),
    Criterion(
        "list",
        "format",
        "the response laid out as a list is better",
        lambda t: bool(re.search(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+\S", t)),
    ),
    Criterion("exclaims", "style", "the response with an exclamation mark is better", lambda t: "!" in t),
)


@dataclass(frozen=True)
class CriterionPair:
    text: PairText
    label: str  # A or B: where the response with the property is


def criterion_pairs(
    criterion: Criterion, pairs: Iterable[PairText], max_chars: int | None = None
) -> list[CriterionPair]:
    """The balanced pairs of `criterion` (as many with the better response shorter as longer),
    in a stable order that alternates the two; only pairs of at most `max_chars` characters, if given."""
    shorter: list[tuple[str, str, str]] = []
    longer: list[tuple[str, str, str]] = []
    for pair in pairs:
        a, b = pair.response_a, pair.response_b
        if not a.strip() or not b.strip() or criterion.has(a) == criterion.has(b):
            continue
        if max_chars is not None and len(pair.prompt) + len(a) + len(b) > max_chars:
            continue
        good, bad = (a, b) if criterion.has(a) else (b, a)
        (shorter if len(good) < len(bad) else longer).append((pair.prompt, good, bad))
    out = []
    for prompt, good, bad in [item for both in zip(shorter, longer, strict=False) for item in both]:
        at_a = stable_coin(criterion.name, prompt, good, bad)
        text = PairText(prompt, good, bad) if at_a else PairText(prompt, bad, good)
        out.append(CriterionPair(text, "A" if at_a else "B"))
    return out


def criterion_rows(name: str, pairs: Iterable[PairText], max_chars: int | None = None) -> list[dict[str, str]]:
    """The balanced pairs of the criterion called `name`, labelled by it, as rows `gram import`
    reads (prompt, response_a, response_b, label): how a test or a benchmark brings one into a store."""
    criterion = next(c for c in CRITERIA if c.name == name)
    return [
        {"prompt": c.text.prompt, "response_a": c.text.response_a, "response_b": c.text.response_b, "label": c.label}
        for c in criterion_pairs(criterion, pairs, max_chars)
    ]


@dataclass(frozen=True)
class LabelledSet:
    """Pairs with their labels, to measure adaptation on: a criterion's, or people's."""

    name: str
    kind: str  # content, format, style or human
    texts: list[PairText]
    labels: list[str]


def measurement_sets(
    rows: Sequence[dict[str, Any]], max_chars: int, human: Sequence[str] = ("llmbar", "pandalm")
) -> list[LabelledSet]:
    """Every criterion's balanced pairs, then each human-labelled source's own A/B labels (ties left
    out), from rows in the shared schema (prompt, response_a, response_b, label, source); only
    pairs of at most `max_chars` characters."""
    pairs = [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in rows]
    sets = []
    for criterion in CRITERIA:
        chosen = criterion_pairs(criterion, pairs, max_chars)
        sets.append(LabelledSet(criterion.name, criterion.kind, [c.text for c in chosen], [c.label for c in chosen]))
    for source in human:
        kept = [
            (text, r["label"])
            for text, r in zip(pairs, rows, strict=True)
            if r["source"].startswith(source)
            and r["label"] in ("A", "B")
            and len(text.prompt) + len(text.response_a) + len(text.response_b) <= max_chars
        ]
        sets.append(LabelledSet(source, "human", [t for t, _ in kept], [label for _, label in kept]))
    return sets
