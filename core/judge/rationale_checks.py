"""Degenerate rationales, told apart from ones worth reading.

A small model's rationale can be bare section headers, one sentence looping, "The answer is:"
three times, or text about neither response; and a rationale whose conclusion names the other
response argues against the verdict it comes with. `rationale_problems` says which of these a
rationale has. It is a pure function of the stored text, so every judgment is checked where it is
shown (the Review page flags it) and where it would become a target (the SFT export and adaptation
leave it out), old and imported judgments alike.
"""

from __future__ import annotations

import re
from collections import Counter

from core.judge.verdict import named_letters, rationale_sections
from core.review.consensus import FinalLabel, confirmed_rationale
from storage.tables import Pair

WORD = re.compile(r"[^\W_]+", re.UNICODE)
SENTENCE_END = re.compile(r"[.!?;:\n]+")
MIN_SECTION_WORDS = 3
LOOP_REPEATS = 3  # one sentence this often is a loop
LOOP_SHINGLE = 6  # words per shingle...
LOOP_DISTINCT = 0.5  # ...and under this share of them distinct (of at least 30) is a loop
DISTINCT_WORD = 5  # letters of a word that can show a rationale is about a response


def _loops(text: str) -> bool:
    sentences = Counter(
        " ".join(WORD.findall(part.lower())) for part in SENTENCE_END.split(text) if len(WORD.findall(part)) >= 2
    )
    if sentences and sentences.most_common(1)[0][1] >= LOOP_REPEATS:
        return True
    words = WORD.findall(text.lower())
    shingles = [tuple(words[i : i + LOOP_SHINGLE]) for i in range(len(words) - LOOP_SHINGLE + 1)]
    return len(shingles) >= 30 and len(set(shingles)) / len(shingles) < LOOP_DISTINCT


# Words any rationale or response may use: sharing them says nothing about what a rationale is about.
GENERIC = frozenset(
    [
        "response",
        "responses",
        "answer",
        "answers",
        "better",
        "question",
        "assistant",
        "should",
        "would",
        "could",
        "which",
        "there",
        "their",
        "about",
        "other",
        "these",
        "those",
        "while",
        "because",
        "however",
        "provides",
        "provided",
        "information",
        "helpful",
        "accurate",
        "detailed",
    ]
)
# "The first response", "the latter": a response named by its place.
BY_PLACE = re.compile(r"\b(first|second|former|latter)\b", re.IGNORECASE)


def _about(text: str, response: str) -> bool:
    """The rationale names the response by its place, or shares a distinctive word with it."""
    mine = {w for w in WORD.findall(text.lower()) if len(w) >= DISTINCT_WORD} - GENERIC
    theirs = {w for w in WORD.findall(response.lower()) if len(w) >= DISTINCT_WORD} - GENERIC
    return bool(mine & theirs)


def rationale_problems(
    rationale: str | None, response_a: str = "", response_b: str = "", label: str | None = None
) -> list[str]:
    """What makes `rationale` not worth reading, or not an argument for `label`; [] when nothing."""
    if not isinstance(rationale, str) or not rationale.strip():
        return ["it is empty"]
    problems = []
    sections = rationale_sections(rationale)
    for name in ("feedback", "comparison", "conclusion"):
        if len(WORD.findall(sections.get(name) or "")) < MIN_SECTION_WORDS:
            problems.append(f"its {name} section is empty")
    if _loops(rationale):
        problems.append("it repeats itself")
    named = named_letters(rationale) or BY_PLACE.search(rationale)
    if not named and not (_about(rationale, response_a) or _about(rationale, response_b)):
        problems.append("it refers to neither response")
    conclusion = sections.get("conclusion") or ""
    other = {"A": "B", "B": "A"}.get(label or "")
    if other is not None and named_letters(conclusion) == {other}:
        problems.append(f"its conclusion names response {other}, not the verdict {label}")
    return problems


def target_rationale(final: FinalLabel, pair: Pair) -> tuple[str | None, list[str]]:
    """The rationale that may train and be exported for the pair's final label (the one a person
    wrote or saved, else the model's that a person had on screen: core/review/consensus.py), and
    what makes it degenerate; a person's own words are theirs to judge, so only the model's is checked."""
    rationale = confirmed_rationale(final, pair.judgments)
    if rationale is None or final.rationale:
        return rationale, []
    return rationale, rationale_problems(rationale, pair.response_a, pair.response_b, final.label)
