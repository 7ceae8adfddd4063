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
    from core.judge.protocol import label_forced

    assert label_forced([{"label": "A", "forced": True}], "A")
    assert label_forced([{"label": "A", "forced": True}, {"label": "B", "forced": False}], "A")
    assert not label_forced([{"label": "A", "forced": True}, {"label": "A", "forced": False}], "A")
    assert not label_forced([{"label": "A", "prob_a": 0.7}], "A")  # the fast path reads the slot by design
