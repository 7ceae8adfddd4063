"""Estimates people can bet on (issue 25, item 3): prediction-powered intervals cover the truth at
the nominal rate in a simulation where the judge is biased, and are narrower than the reviews'
alone when the judge tracks people; a dataset's estimates leave out what the judge trained on, name
each model's win rate, and plan the reviews for ±5 points."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from app.cli import cli
from app.context import StudioContext
from app.pages import evaluate as evaluate_page
from core.data.identity import content_key
from core.evaluation.estimates import dataset_estimates
from core.review.reviews import save_review
from core.settings import Settings
from core.stats.intervals import wilson_interval
from core.stats.ppi import ppi_mean
from storage.database import Database
from storage.tables import Judgment, ModelVersion, Pair
from tests import factories


@pytest.mark.parametrize("bias", [0.0, 0.2])
def test_ppi_intervals_cover_the_truth_at_the_nominal_rate(bias: float) -> None:
    rng, repetitions, covered, width_ppi, width_naive = random.Random(3), 1000, 0, 0.0, 0.0
    for _ in range(repetitions):
        p = [rng.random() for _ in range(1500)]
        y = [float(rng.random() < pi) for pi in p]
        f = [min(1.0, max(0.0, pi + bias + rng.gauss(0, 0.1))) for pi in p]  # a judge off by `bias`
        truth = sum(y) / len(y)
        chosen = set(rng.sample(range(len(y)), 100))
        found = ppi_mean(
            [y[i] for i in chosen], [f[i] for i in chosen], [f[i] for i in range(len(y)) if i not in chosen]
        )
        assert found is not None
        covered += found.interval[0] <= truth <= found.interval[1]
        width_ppi += found.interval[1] - found.interval[0]
        low, high = wilson_interval(round(sum(y[i] for i in chosen)), 100) or (0.0, 1.0)
        width_naive += high - low
    assert 0.93 <= covered / repetitions <= 0.97, covered
    assert width_ppi < 0.95 * width_naive  # the judge's verdicts on the other pairs are worth something


def test_a_judge_that_says_nothing_costs_nothing() -> None:
    """Power tuning: a judge whose predictions do not track the labels is given no weight."""
    rng = random.Random(5)
    y = [float(rng.random() < 0.3) for _ in range(200)]
    noise = [rng.random() for _ in range(1200)]
    found = ppi_mean(y, noise[:200], noise[200:])
    assert found is not None and found.lam < 0.2
    assert found.estimate == pytest.approx(sum(y) / 200, abs=0.02)
    assert ppi_mean([1.0], [0.5], [0.2, 0.3]) is None  # too few to say anything


def _store(session: Session) -> list[int]:
    """400 pairs naming their models, judged by a version that trained on the first 10; the judge's
    P(A) is right on every pair but over-confident; 40 pairs reviewed (people prefer A on 3 in 4)."""
    texts = [(f"q{i}", f"a{i}", f"b{i}") for i in range(400)]
    ids = factories.dataset(session, name="e", labels=None, texts=texts)
    version = ModelVersion(
        name="judge", base_model="base", head_path="/h", config={"train_keys": [content_key(*t) for t in texts[:10]]}
    )
    session.add(version)
    session.flush()
    for i, pair_id in enumerate(ids):
        pair = session.get(Pair, pair_id)
        assert pair is not None
        pair.meta = {"model_a": "alpha" if i % 2 else "beta", "model_b": "gamma"}
        prefers_a = i % 4 != 0
        prob_a = 0.95 if prefers_a else 0.05
        session.add(
            Judgment(
                pair_id=pair_id, model_version_id=version.id, model="judge", backend="transformers",
                protocol="label-only", label="A" if prefers_a else "B", confidence=0.95, prob_a=prob_a,
            )
        )  # fmt: skip
        session.flush()
        if i < 50:  # the first 10 are training pairs: their reviews must not count
            save_review(session, pair_id, reviewer="ana", label="A" if prefers_a else "B")
    session.flush()
    return ids


def test_dataset_estimates_leave_out_training_pairs_and_name_models(session: Session) -> None:
    _store(session)
    found = dataset_estimates(session, "e")
    assert (found.labelled, found.unlabelled, found.trained_excluded) == (40, 350, 10)
    by_name = {row.quantity: row for row in found.rows}
    accuracy = by_name["the judge's accuracy (agreement with people)"]
    assert accuracy.naive == 1.0 and accuracy.judge_alone == pytest.approx(0.95)
    assert accuracy.ppi is not None and accuracy.ppi.lam == 0  # a constant confidence predicts nothing
    assert accuracy.ppi.interval == accuracy.naive_ci  # so the reviews' own (Wilson) interval, never a point
    share = by_name["share of pairs where A is preferred"]
    assert share.naive == pytest.approx(30 / 40)
    assert {"win rate of alpha", "win rate of beta", "win rate of gamma"} <= set(by_name)
    gamma = by_name["win rate of gamma"]
    assert gamma.naive == pytest.approx(10 / 40) and gamma.n_reviewed == 40
    assert by_name["win rate of alpha"].n_reviewed == 20
    assert share.ppi is not None and share.naive_ci is not None
    ppi_width, naive_width = share.ppi.interval[1] - share.ppi.interval[0], share.naive_ci[1] - share.naive_ci[0]
    assert ppi_width < naive_width / 2  # the judge's P(A) tracks people: its verdicts on 350 pairs count
    assert share.more_reviews == 0 and share.ppi.reviews_for(0.05) == 40  # ±5 points already
    assert share.ppi.reviews_for(0.001) is None  # not within 390 pairs
    more = by_name["win rate of alpha"]
    assert (
        more.ppi is not None and more.more_reviews is not None and more.ppi.reviews_for(0.05) == 20 + more.more_reviews
    )


def test_gram_estimate_and_the_evaluate_page(settings: Settings, db: Database) -> None:
    with db.session() as session:
        _store(session)
    result = CliRunner().invoke(cli, ["estimate", "e", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["labelled"] == 40 and found["estimates"][1]["naive"] == pytest.approx(0.75)
    assert found["estimates"][1]["ppi_ci"][0] < 0.75 < found["estimates"][1]["ppi_ci"][1]
    plain = CliRunner().invoke(cli, ["estimate", "e"])
    assert plain.exit_code == 0 and "random sample" in plain.output
    assert CliRunner().invoke(cli, ["estimate", "nope"]).exit_code == 1
    ctx = StudioContext(settings.model_copy(update={"model": "unused"}), db)
    table, note = evaluate_page.estimates_view(ctx, "e")
    assert len(table) == 5 and "prediction-powered (95% CI)" in table.columns and "10 the judge trained on" in note
