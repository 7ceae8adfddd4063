"""parse_verdict against a table of replies, well-formed and broken."""

from __future__ import annotations

import pytest

from core.judge.verdict import parse_verdict

GOOD = """<think>
Feedback:
Response A explains the idiom correctly. Response B confuses it with a different one.

Comparision:
A is accurate; B is not.

Conclusion:
A is better.
</think>
<answer>
A
</answer>"""


def test_a_well_formed_reply_gives_label_rationale_and_sections() -> None:
    verdict = parse_verdict(GOOD)
    assert verdict.ok and verdict.label == "A" and verdict.problem is None
    assert verdict.rationale is not None and verdict.rationale.startswith("Feedback:")
    assert verdict.feedback == "Response A explains the idiom correctly. Response B confuses it with a different one."
    assert verdict.comparison == "A is accurate; B is not."
    assert verdict.conclusion == "A is better."


@pytest.mark.parametrize(
    "text, label, problem",
    [
        # cut off by the stop string or the token limit after the letter: still a label
        (GOOD.removesuffix("\n</answer>"), "A", None),
        ("<think>\nFeedback: x\nComparison: y\nConclusion: z\n</think>\n<answer>B</answer>", "B", None),
        ("<think>Feedback: fine\nConclusion: B wins</think><answer> b </answer>", "B", None),
        ("<answer>\nResponse B\n</answer>", "B", "no <think> rationale before the answer"),
        (
            "<think>I like B more.</think>\n<answer>B</answer>",
            "B",
            "rationale lacks Feedback/Comparision/Conclusion sections",
        ),
        ("<think>\nFeedback: x\n<answer>\nA\n</answer>", "A", None),  # </think> forgotten
        # no label
        ("", None, "empty output"),
        ("   \n", None, "empty output"),
        ("<think>\nFeedback:\nResponse A is", None, "output cut off before <answer>"),
        ("I think B is better.", None, "no <think> or <answer> in output"),
        ("<think>Feedback: x</think>\n<answer>\nA or B\n</answer>", None, "<answer> holds both letters: 'A or B'"),
        ("<think>Feedback: x</think>\n<answer>\n\n</answer>", None, "<answer> holds no single letter: ''"),
        ("<think>Feedback: x</think>\n<answer>\nC\n</answer>", None, "<answer> holds no single letter: 'C'"),
        ("<think>Feedback: x</think><answer>A</answer><answer>B</answer>", None, "conflicting answers ['A', 'B']"),
    ],
)
def test_replies_good_and_broken(text: str, label: str | None, problem: str | None) -> None:
    verdict = parse_verdict(text)
    assert (verdict.label, verdict.problem) == (label, problem)


def test_the_authors_split_bug_is_not_copied() -> None:
    # Splitting on </answer> and taking the last part gives '' for every well-formed reply.
    assert GOOD.split("</answer>")[-1].strip() == ""
    assert parse_verdict(GOOD).label == "A"


def test_the_pairs_rationale_is_in_the_pairs_own_terms() -> None:
    """When the swapped order decides, its rationale (which calls the pair's B 'Response A') is
    shown and trained with the letters of the pair, not of the swapped presentation."""
    from core.judge.generative import JudgeOptions, Sample, _combine

    options = JudgeOptions(both_orders=True)

    ab = Sample("A", 0.55, "Conclusion: Response A is better.", "raw ab", None, False, 5)
    # In BA the model saw the pair's B first and preferred it: "Response A" there is the pair's B.
    ba = Sample(
        "B",
        0.10,
        "Feedback: Response A is precise, Response B vague.\nConclusion: Response A.",
        "raw ba",
        None,
        False,
        5,
    )
    judged = _combine([("AB", [ab]), ("BA", [ba])], options, truncated=False, timings={}, undecided_within=0.0)
    assert judged.label == "B" and judged.consistent is False
    assert judged.rationale == "Feedback: Response B is precise, Response A vague.\nConclusion: Response B."
    assert [o["rationale"] for o in judged.orders] == [ab.rationale, ba.rationale]  # each order as it was written
    unclear = Sample("B", 0.10, "A is precise.", "raw", None, False, 5)  # a bare letter: cannot be restated
    judged = _combine([("AB", [ab]), ("BA", [unclear])], options, truncated=False, timings={}, undecided_within=0.0)
    assert judged.rationale is None and "pair's terms" in (judged.parse_error or "")


def test_orders_that_disagree_evenly_leave_the_judge_undecided() -> None:
    """Two orders that disagree with equal force average to P(A) = 0.5 (or within the backend's
    precision of it): no winner is named, and the as-stored order's rationale is shown."""
    from core.judge.generative import JudgeOptions, Sample, _combine

    ab = Sample("A", 0.6, "Conclusion: Response A is better.", "raw ab", None, False, 5)
    ba = Sample("B", 0.4, "Conclusion: Response B is better.", "raw ba", None, False, 5)
    options = JudgeOptions(both_orders=True, votes=1)
    judged = _combine([("AB", [ab]), ("BA", [ba])], options, truncated=False, timings={}, undecided_within=0.0)
    assert (judged.label, judged.consistent, judged.confidence) == ("tie", False, 0.5)
    assert judged.rationale == ab.rationale and judged.raw_output == "raw ab"
    near = Sample("B", 0.39, "Conclusion: Response B is better.", "raw ba", None, False, 5)
    judged = _combine([("AB", [ab]), ("BA", [near])], options, truncated=False, timings={}, undecided_within=0.01)
    assert judged.label == "tie"
    judged = _combine([("AB", [ab]), ("BA", [near])], options, truncated=False, timings={}, undecided_within=0.0)
    assert judged.label == "B"  # 0.495: B, where the precision can tell
