"""A dataset's own calibration (issue 25, item 1): a temperature fitted on the pairs people
reviewed (none the judge trained on) pulls an over-confident judge's confidence towards what it
earns, and the pages say which calibration is in force and on how many pairs."""

from __future__ import annotations

import math
import random

from sqlalchemy.orm import Session

from app.context import StudioContext
from app.pages import evaluate as evaluate_page
from app.pages.review.view import pair_values
from core.evaluation.calibration import dataset_calibration, fit_temperature
from core.review.pair_view import pair_detail
from core.review.reviews import save_review
from core.settings import Settings
from storage.database import Database
from storage.tables import Judgment
from tests import factories


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_the_temperature_of_an_over_confident_judge_is_recovered() -> None:
    rng = random.Random(2)
    truth = [rng.uniform(0.05, 0.95) for _ in range(3000)]
    said = [_sigmoid(3 * math.log(p / (1 - p))) for p in truth]  # three times as sure as it should be
    ys = [rng.random() < p for p in truth]
    assert 2.5 < fit_temperature(said, ys) < 3.6
    assert 0.8 < fit_temperature(truth, ys) < 1.25  # a calibrated judge keeps its own


def _judge_and_review(session: Session, pair_ids: list[int]) -> None:
    """The judge gives P(A) = 0.95 on each pair; people prefer A on every other one."""
    for i, pair_id in enumerate(pair_ids):
        session.add(
            Judgment(pair_id=pair_id, model="m", backend="transformers", label="A", confidence=0.95, prob_a=0.95)
        )
        session.flush()
        save_review(session, pair_id, reviewer="ana", label="A" if i % 2 else "B")


def test_a_dataset_calibration_starts_at_twenty_reviews_and_is_said(settings: Settings, db: Database) -> None:
    with db.session() as session:
        ids = factories.dataset(session, 20, name="c", labels=None)
        factories.dataset(session, 30, name="elsewhere", labels=None)
        _judge_and_review(session, ids[:19])
        few = dataset_calibration(session, "c")
        assert few.temperature is None and few.n == 19 and "the model's own" in few.in_force
        _judge_and_review(session, ids[19:])
        calibration = dataset_calibration(session, "c")
        assert calibration.temperature is not None and calibration.n == 20
        assert calibration.confidence(0.95) < 0.7  # right half the time: far from 0.95
        detail = pair_detail(session, ids[0], "ana")
    verdict = pair_values(detail, blind=False, images=False, calibration=calibration)[4]
    assert "calibrated confidence" in verdict and "fitted on 20 reviewed pairs" in verdict
    ctx = StudioContext(settings.model_copy(update={"model": "unused"}), db)
    text = evaluate_page.evaluation_view(ctx, "c", "m")[0]
    assert "Calibration in force" in text and "fitted on 20 reviewed pairs" in text
