"""Parse a GRAM-R² reply: `<think>` (Feedback / Comparision / Conclusion), then `<answer>`.

`parse_verdict` is pure and never raises: malformed output is a result with `label=None` and a
`problem` saying what was wrong, for the judge to report (and, where it can, fall back from).
The label is read with a pattern, not by splitting on `</answer>` (the authors' demo did that and
so read an empty string for every well-formed reply). A reply cut off after the letter (a stop
string, a token limit) still parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ANSWER = re.compile(r"<answer>\s*(.*?)\s*(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
THINK = re.compile(r"<think>(.*?)(?:</think>|(?=<answer>)|$)", re.DOTALL | re.IGNORECASE)
SECTION = re.compile(r"^\s*(Feedback|Comparision|Comparison|Conclusion)\s*:\s*", re.IGNORECASE | re.MULTILINE)
LETTER = re.compile(r"^(?:Response\s+|Assistant\s+)?\(?([AB])\)?\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    label: Literal["A", "B"] | None
    rationale: str | None  # the text inside <think>, stripped
    feedback: str | None = None
    comparison: str | None = None
    conclusion: str | None = None
    problem: str | None = None  # why there is no label, or what is off in the format

    @property
    def ok(self) -> bool:
        return self.label is not None


def rationale_sections(rationale: str) -> dict[str, str]:
    """The rationale's Feedback, Comparison and Conclusion (by lower-case name), where it has them."""
    marks = list(SECTION.finditer(rationale))
    found: dict[str, str] = {}
    ends = [following.start() for following in marks[1:]] + [len(rationale)] if marks else []
    for mark, end in zip(marks, ends, strict=True):
        name = mark.group(1).lower().replace("comparision", "comparison")
        found.setdefault(name, rationale[mark.end() : end].strip())
    return found


def parse_verdict(text: str) -> Verdict:
    """The label and rationale in `text`, or a Verdict without a label saying what was wrong."""
    if not text or not text.strip():
        return Verdict(None, None, problem="empty output")
    think = THINK.search(text)
    rationale = think.group(1).strip() if think else None
    sections = rationale_sections(rationale) if rationale else {}
    parts = {
        "rationale": rationale or None,
        "feedback": sections.get("feedback"),
        "comparison": sections.get("comparison"),
        "conclusion": sections.get("conclusion"),
    }
    answers = ANSWER.findall(text)
    if not answers:
        cut = "output cut off before <answer>" if think else "no <think> or <answer> in output"
        return Verdict(None, **parts, problem=cut)
    letters = []
    for answer in answers:
        match = LETTER.match(answer.strip())
        if match is None:
            both = re.search(r"\bA\b", answer) and re.search(r"\bB\b", answer)
            why = "both letters" if both else "no single letter"
            return Verdict(None, **parts, problem=f"<answer> holds {why}: {answer.strip()[:40]!r}")
        letters.append(match.group(1).upper())
    if len(set(letters)) > 1:
        return Verdict(None, **parts, problem=f"conflicting answers {letters}")
    problem = None
    if rationale is None:
        problem = "no <think> rationale before the answer"
    elif not sections:
        problem = "rationale lacks Feedback/Comparision/Conclusion sections"
    return Verdict(letters[0], **parts, problem=problem)  # type: ignore[arg-type]


# How a rationale names a response: "Response A", "response (B)", "Assistant A's", "Output B"...
NAMED_RESPONSE = re.compile(r"\b((?i:response|assistant|output|answer|model))(\s*\(?\s*)([AB])\b")
# ...or a capital letter on its own: "A is better", "(B)".
BARE_LETTER = re.compile(r"(?<![\w'’])([AB])(?![\w’-])")


def named_letters(text: str) -> set[str]:
    """The responses `text` names, either way (A, B, both or neither)."""
    named = {m.group(3) for m in NAMED_RESPONSE.finditer(text)}
    return named | {m.group(1) for m in BARE_LETTER.finditer(NAMED_RESPONSE.sub(" ", text))}


def swap_letters(text: str) -> str | None:
    """`text` for the other presentation order (every named response changes letter), or None when
    it also names a response by a bare letter, which cannot be told from the article 'A'."""
    if BARE_LETTER.search(NAMED_RESPONSE.sub(" ", text)):
        return None
    return NAMED_RESPONSE.sub(lambda m: m.group(1) + m.group(2) + ("B" if m.group(3) == "A" else "A"), text)
