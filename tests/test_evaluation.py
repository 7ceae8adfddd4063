"""Evaluation figures that mean what they say: calibration over the whole confidence range, forced
labels reported, accuracy with its size and a 95% interval."""

from __future__ import annotations

import pytest

from core.evaluation.metrics import Scored, evaluate


def test_ece_counts_confidences_below_one_half() -> None:
    """A generative verdict can name a label the answer slot finds less likely (confidence < 0.5)."""
    items = [Scored("A", "A", 0.3, 0.3, None) for _ in range(10)]  # right every time, at confidence 0.3
    report = evaluate(items)
    assert report.ece == pytest.approx(0.7)
    assert sum(b.count for b in report.reliability) == 10 and report.reliability[0].low == 0.0


def test_ece_is_the_count_weighted_gap_over_every_scored_pair() -> None:
    items = [Scored("A", "A", 0.9, 0.9, None)] * 8 + [Scored("A", "B", 0.9, 0.1, None)] * 2  # 80% right at 0.9
    assert evaluate(items).ece == pytest.approx(0.1)


def test_labels_forced_at_the_answer_slot_are_reported() -> None:
    items = [Scored("A", "A", 0.8, 0.8, None, forced=i < 3) for i in range(12)]
    report = evaluate(items)
    assert (report.forced, report.n) == (3, 12)
    assert any("forced" in line and "3 of 12" in line for line in report.lines())


def test_accuracy_carries_its_size_and_a_95_percent_interval() -> None:
    report = evaluate([Scored("A", "A" if i < 30 else "B", 0.7, 0.7, None) for i in range(40)])
    low, high = report.accuracy_ci
    assert report.accuracy == 0.75 and low < 0.75 < high and 0.55 < low < 0.65 and 0.82 < high < 0.90
    assert any("95%" in line and "on 40" in line for line in report.lines())
    assert evaluate([]).accuracy_ci is None


def test_a_label_is_forced_only_when_every_order_giving_it_had_no_label_of_its_own() -> None:
    from core.judge.generative import label_forced

    assert label_forced([{"label": "A", "forced": True}], "A")
    assert label_forced([{"label": "A", "forced": True}, {"label": "B", "forced": False}], "A")
    assert not label_forced([{"label": "A", "forced": True}, {"label": "A", "forced": False}], "A")
    assert not label_forced([{"label": "A", "prob_a": 0.7}], "A")  # the fast path reads the slot by design


def test_before_and_after_are_paired_and_give_no_verdict_on_too_few_pairs() -> None:
    from core.evaluation.comparison import compare, mcnemar_p
    from core.stats.intervals import MIN_VERDICT_PAIRS, pairs_for_half_width

    # Exact McNemar: 10 fixed and none broken is 2 × (1/2)^10; an even split is no evidence at all.
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_p(5, 5) == 1.0 and mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(3, 1) == pytest.approx(2 * (1 + 4) / 16)
    assert pairs_for_half_width(0.5) == 97  # 1.96² · 0.25 / 0.1²
    # 5 held-out pairs, 0.6 -> 1.0: intervals shown, no verdict.
    small = compare([True, True, True, False, False], [True] * 5)
    assert (small.n, small.fixed, small.broken, small.after) == (5, 2, 0, 1.0)
    assert small.verdict.startswith(f"none yet: 5 held-out pairs, and a verdict needs at least {MIN_VERDICT_PAIRS}")
    assert small.before_ci is not None and small.before_ci[0] < 0.25 and small.before_ci[1] > 0.85
    # 40 pairs: 12 fixed, 1 broken is better; 6 fixed, 4 broken could be chance.
    before = [False] * 12 + [True] + [True] * 27
    after = [True] * 12 + [False] + [True] * 27
    assert compare(before, after).verdict.startswith("better (p = 0.00342")
    mixed = compare([False] * 6 + [True] * 4 + [True] * 30, [True] * 6 + [False] * 4 + [True] * 30)
    assert mixed.verdict.startswith("no clear change") and mixed.p_value == pytest.approx(0.754, abs=1e-3)
    assert compare(after, before).verdict.startswith("worse")


def test_the_measurement_sets_are_balanced_criteria_and_peoples_own_labels() -> None:
    """What benchmarks/adapt_curves.py measures on: a criterion's pairs put its property's response
    at A or B by a coin, as often shorter as longer; people's sets keep their A/B and drop ties."""
    from core.data.demo import demo_rows
    from core.evaluation.criteria import CRITERIA, measurement_sets

    rows = demo_rows()
    sources = {r["source"].split("/")[0].split("-")[0] for r in rows}
    sets = {s.name: s for s in measurement_sets(rows, 2500, human=sorted(sources))}
    for criterion in CRITERIA:
        chosen = sets[criterion.name]
        assert len(chosen.texts) >= 10
        at_a = [criterion.has(t.response_a) for t in chosen.texts]
        assert [("A" if a else "B") for a in at_a] == chosen.labels
        assert 0 < sum(at_a) < len(at_a)  # at A or B by a stable coin: both occur
        better_shorter = [
            len(t.response_a if a else t.response_b) < len(t.response_b if a else t.response_a)
            for t, a in zip(chosen.texts, at_a, strict=True)
        ]
        assert abs(sum(better_shorter) - len(better_shorter) / 2) <= 1  # as often shorter as longer
        assert all(len(t.prompt) + len(t.response_a) + len(t.response_b) <= 2500 for t in chosen.texts)
    people = [s for s in sets.values() if s.kind == "human"]
    assert people and all(set(s.labels) <= {"A", "B"} for s in people)
    labelled = sum(
        1 for r in rows if r["label"] in ("A", "B") and len(r["prompt"] + r["response_a"] + r["response_b"]) <= 2500
    )
    assert sum(len(s.texts) for s in people) == labelled


def test_an_undecided_judgment_is_counted_and_never_right() -> None:
    """P(A) at 0.5, or within the backend's precision of it, names no winner: it is a tie, wrong
    against either reference, and counted (an old store's exact 0.5 labelled "A" too)."""
    from core.vocab import Label, verdict_for

    assert verdict_for(0.5) == Label.TIE and verdict_for(0.5 + 1e-9) == Label.A and verdict_for(0.4) == Label.B
    assert verdict_for(0.5004, 1e-3) == Label.TIE and verdict_for(0.4996, 1e-3) == Label.TIE
    assert verdict_for(0.502, 1e-3) == Label.A and verdict_for(0.47, 0.02) == Label.B
    items = [
        Scored("A", "tie", 0.5004, 0.5004, True),
        Scored("B", "tie", 0.5, 0.5, True),
        Scored("A", "A", 0.5, 0.5, None),  # stored by a version that called an exact 0.5 "A"
        *[Scored("A", "A", 0.8, 0.8, True)] * 7,
    ]
    report = evaluate(items)
    assert (report.n, report.undecided, report.accuracy) == (10, 3, 0.7)
    assert any("undecided" in line and "3 of 10" in line for line in report.lines())
