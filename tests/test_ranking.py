"""Ranking methods with a known judge, then with the real model's fast path."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from core.judge.ranking import best_of_n, full_ranking, knockout, rlhf_reward
from core.text.pair import PairText
from tests.conftest import FIXTURES

QUALITY = {"w": 0.1, "x": 0.5, "y": 0.9, "z": 0.3, "v": 0.7, "u": 0.2, "t": 0.95}


class LengthJudge:
    """A judge with known preferences (higher quality wins), counting its calls and batches."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, pairs: Sequence[PairText]) -> list[float]:
        self.batches.append(len(pairs))
        return [1 / (1 + math.exp(-10 * (QUALITY[p.response_a] - QUALITY[p.response_b]))) for p in pairs]


CANDIDATES = list(QUALITY)  # 7 candidates, best is "t"


def test_best_of_n_and_knockout_find_the_best_in_n_minus_one_comparisons() -> None:
    judge = LengthJudge()
    ranking = best_of_n("q", CANDIDATES, judge)
    assert CANDIDATES[ranking.order[0]] == "t" and ranking.comparisons == 6 and judge.batches == [1] * 6
    judge = LengthJudge()
    ranking = knockout("q", CANDIDATES, judge)
    assert CANDIDATES[ranking.order[0]] == "t"
    assert ranking.comparisons == 6 and ranking.rounds == math.ceil(math.log2(7)) == 3
    assert judge.batches == [3, 2, 1]  # each round is one batch


def test_full_ranking_sorts_by_preference() -> None:
    judge = LengthJudge()
    ranking = full_ranking("q", CANDIDATES, judge)
    assert [CANDIDATES[i] for i in ranking.order] == sorted(CANDIDATES, key=lambda c: -QUALITY[c])
    assert ranking.comparisons <= 7 * math.ceil(math.log2(7))
    assert ranking.rounds < ranking.comparisons  # merges at one level share batches


def test_rlhf_reward_is_the_probability_of_beating_the_reference() -> None:
    assert rlhf_reward("q", "y", "x", LengthJudge()) > 0.9
    assert rlhf_reward("q", "w", "x", LengthJudge()) < 0.1


@pytest.mark.slow
def test_gram_rank_with_the_real_model(tmp_path: Path, embedded_model_dir: Path) -> None:
    row = json.loads((FIXTURES / "ranking.jsonl").read_text().splitlines()[0])
    source = tmp_path / "candidates.jsonl"
    source.write_text(json.dumps({"prompt": row["prompt"], "responses": row["responses"]}) + "\n")
    out = tmp_path / "ranked.jsonl"
    args = ["rank", str(source), "--out", str(out), "--model", str(embedded_model_dir)]
    result = CliRunner().invoke(cli, [*args, "--method", "sort"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "ranking: 100%" in result.stderr and "1/1" in result.stderr
    ranked = json.loads(out.read_text())
    assert sorted(ranked["ranking"]) == list(range(len(row["responses"])))
    assert ranked["best"] == row["responses"][ranked["ranking"][0]]
    assert ranked["comparisons"] >= len(row["responses"]) - 1
