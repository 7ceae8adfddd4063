"""Abstention with a guarantee (issue 25, item 2): the trust threshold keeps its promise in a
simulation with known labels, says how many more reviews it needs, and `gram trust` reports it
from a dataset's reviews, leaving out the pairs the judge trained on."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from app.cli import cli
from core.errors import GramError
from core.evaluation.trust import choose_threshold, dataset_trust, fewest_to_pass
from core.review.reviews import save_review
from core.stats.binomial import at_least, lower_bound
from storage.database import Database
from storage.tables import Judgment, ModelVersion
from tests import factories

REPETITIONS = 200
REVIEWED = 1000


def _calibrated(c: float) -> float:
    return c


def _overconfident(c: float) -> float:
    return 0.5 + 0.8 * (c - 0.5)


def _population_agreement(truth, threshold: float) -> float:  # noqa: ANN001
    """The judge's agreement on all pairs above `threshold`, confidence uniform on [0.5, 1]."""
    points = [threshold + (1 - threshold) * (i + 0.5) / 2000 for i in range(2000)]
    return sum(truth(c) for c in points) / len(points)


def _naive(reviewed: list[tuple[float, bool]], target: float) -> float | None:
    """The lowest threshold whose observed agreement is at least the target: no guarantee."""
    best, agree = None, 0
    for n, (confidence, ok) in enumerate(sorted(reviewed, key=lambda r: -r[0]), start=1):
        agree += ok
        if n >= 10 and agree / n >= target:
            best = confidence
    return best


@pytest.mark.parametrize(("truth", "target", "found_at_least"), [(_calibrated, 0.9, 0.7), (_overconfident, 0.8, 0.5)])
def test_the_threshold_keeps_its_promise_in_at_least_one_minus_alpha_of_repetitions(
    truth,  # noqa: ANN001
    target: float,
    found_at_least: float,
) -> None:
    """A judge whose agreement with people at confidence c is truth(c), c uniform on [0.5, 1];
    the promise is checked against its agreement on every pair above the threshold, seen or not."""
    alpha, rng = 0.05, random.Random(7)
    broken = naive_broken = found = 0
    coverage = []
    for _ in range(REPETITIONS):
        confidences = [rng.uniform(0.5, 1.0) for _ in range(REVIEWED)]
        reviewed = [(c, rng.random() < truth(c)) for c in confidences]
        chosen = choose_threshold(reviewed, target, alpha)
        if chosen is not None:
            found += 1
            coverage.append((1 - chosen.threshold) / 0.5)
            broken += _population_agreement(truth, chosen.threshold) < target
            assert chosen.lower_bound >= target
        naive = _naive(reviewed, target)
        naive_broken += naive is not None and _population_agreement(truth, naive) < target
    assert broken / REPETITIONS <= alpha, broken  # the guarantee
    assert naive_broken / REPETITIONS > 0.3, naive_broken  # the simulation can tell a rule without one
    assert found >= REPETITIONS * found_at_least, found  # and the guarantee is useful
    assert sum(coverage) / len(coverage) > 0.15


def test_too_few_reviews_say_how_many_more_and_a_bad_judge_gets_no_threshold(session: Session) -> None:
    fewest = fewest_to_pass(0.9, 0.05)
    assert 0.9**fewest <= 0.05 < 0.9 ** (fewest - 1)
    assert choose_threshold([(0.99, True)] * (fewest - 1), 0.9, 0.05) is None
    assert choose_threshold([(0.99, True)] * fewest, 0.9, 0.05) is not None
    with pytest.raises(GramError, match="target"):
        choose_threshold([], 1.0, 0.05)
    with pytest.raises(GramError, match="alpha"):
        choose_threshold([], 0.9, 0.0)


def test_exact_binomial_tail_and_bound() -> None:
    assert at_least(29, 30, 0.9) == pytest.approx(0.9**30 + 30 * 0.1 * 0.9**29)
    assert lower_bound(30, 30, 0.05) == pytest.approx(0.05 ** (1 / 30))
    assert at_least(0, 5, 0.3) == 1.0 and at_least(6, 5, 0.3) == 0.0
    assert lower_bound(9000, 10000, 0.05) == pytest.approx(0.895, abs=0.001)  # large n in log space


def _judged_dataset(session: Session, n: int, *, right: int, trained: int = 0) -> list[int]:
    """n pairs judged at confidence 0.99 by a head version that trained on the first `trained`;
    each reviewed as its reference says; the judge agrees on the first `right`."""
    texts = [(f"q{i}", f"a{i}", f"b{i}") for i in range(n + 10)]
    ids = factories.dataset(session, name="t", labels="A", texts=texts)
    from core.data.identity import content_key

    version = ModelVersion(
        name="judge-v",
        base_model="base",
        head_path="/h",
        config={"train_keys": [content_key(*t) for t in texts[:trained]]},
    )
    session.add(version)
    session.flush()
    for i, pair_id in enumerate(ids):
        label = "A" if i < right or i >= n else "B"
        session.add(
            Judgment(
                pair_id=pair_id, model_version_id=version.id, model="judge-v", backend="transformers",
                protocol="label-only", label=label, confidence=0.99 if i < n else 0.6, prob_a=0.99,
            )
        )  # fmt: skip
        session.flush()
        if i < n:
            save_review(session, pair_id, reviewer="ana", label="A")
    return ids


def test_dataset_trust_reads_latest_judgments_and_leaves_out_training_pairs(session: Session) -> None:
    _judged_dataset(session, 60, right=60, trained=40)
    report = dataset_trust(session, "t", 0.9, 0.05)
    assert (report.n_reviewed, report.trained_excluded) == (20, 40)
    assert report.threshold is None and report.needed is not None and report.needed >= fewest_to_pass(0.9, 0.05) - 20
    assert "review about" in report.verdict


def test_gram_trust_prints_threshold_coverage_reviews_and_bound(db: Database) -> None:
    with db.session() as session:
        _judged_dataset(session, 60, right=60)
    result = CliRunner().invoke(cli, ["trust", "t", "--target", "0.9", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["threshold"] == 0.99 and found["n_reviewed"] == 60
    assert found["coverage"] == pytest.approx(60 / 70) and found["lower_bound"] == pytest.approx(0.05 ** (1 / 60))
    plain = CliRunner().invoke(cli, ["trust", "t"])
    assert plain.exit_code == 0 and "need a person" in plain.output
    refused = CliRunner().invoke(cli, ["trust", "t", "--target", "1.5"])
    assert refused.exit_code != 0 and "target" in refused.output and "Traceback" not in refused.output
