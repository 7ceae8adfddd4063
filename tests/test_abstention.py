"""Abstention with a guarantee (issue 25, item 2): the trust threshold keeps its promise in a
simulation with known labels, says how many more reviews it needs, and `gram trust` reports it
from a dataset's reviews, leaving out the pairs the judge trained on."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from app.cli import cli
from app.context import StudioContext
from app.pages import evaluate as evaluate_page
from app.pages.review import handlers
from core.data.identity import content_key
from core.errors import GramError
from core.evaluation.trust import choose_threshold, dataset_trust, fewest_to_pass
from core.review.queue import QueueFilter, queue_page
from core.review.reviews import save_review
from core.review.workflow import Cursor
from core.stats.binomial import at_least, lower_bound
from storage.database import Database
from storage.tables import Judgment, ModelVersion
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from core.settings import Settings

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
    """n pairs judged at confidence 0.99 by a head version that trained on the first `trained`, each
    reviewed as its reference says (A), the judge right on the first `right`; then, not reviewed,
    10 pairs it judges at 0.6 and 5 at 0.995."""
    texts = [(f"q{i}", f"a{i}", f"b{i}") for i in range(n + 15)]
    ids = factories.dataset(session, name="t", labels="A", texts=texts)
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
        confidence = 0.99 if i < n else 0.6 if i < n + 10 else 0.995
        session.add(
            Judgment(
                pair_id=pair_id, model_version_id=version.id, model="judge-v", backend="transformers",
                protocol="label-only", label=label, confidence=confidence, prob_a=confidence,
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
    assert found["coverage"] == pytest.approx(65 / 75) and found["lower_bound"] == pytest.approx(0.05 ** (1 / 60))
    plain = CliRunner().invoke(cli, ["trust", "t"])
    assert plain.exit_code == 0 and "need a person" in plain.output
    refused = CliRunner().invoke(cli, ["trust", "t", "--target", "1.5"])
    assert refused.exit_code != 0 and "target" in refused.output and "Traceback" not in refused.output


def test_pairs_under_the_threshold_form_the_needs_a_person_queue(settings: Settings, db: Database) -> None:
    with db.session() as session:
        ids = _judged_dataset(session, 60, right=60)
        everyone = queue_page(session, QueueFilter("t", "needs-person", trust_below=None), page_size=100)
        assert sorted(r.pair_id for r in everyone.rows) == ids[60:]  # no threshold: every pair not yet reviewed
    ctx = StudioContext(settings.model_copy(update={"model": "unused"}), db)
    loaded = handlers.load_queue(ctx, "t", "needs-person", "id", False, False, "", "", Cursor(), user="ana")
    state = loaded[0]
    assert state.filter.trust_below == 0.99 and state.ids == ids[60:70]  # the 0.6 ones; the 0.995 ones stand
    shown = evaluate_page.trust_view(ctx, "t", 0.9, 0.05)
    assert "confidence &gt;= 0.990" in shown or "confidence >= 0.990" in shown, shown
    assert "needs a person" in shown


def test_a_dpo_export_takes_the_judges_label_only_above_its_threshold(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        ids = _judged_dataset(session, 60, right=60)
    out = tmp_path / "dpo.jsonl"
    result = CliRunner().invoke(cli, ["export", "t", "--format", "dpo", "--out", str(out), "--trusted-judge"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert (
        len(rows) == 65 and "5 labelled by the judge" in result.output and "10 under the judge's trust" in result.output
    )
    plain = tmp_path / "plain.jsonl"
    assert CliRunner().invoke(cli, ["export", "t", "--format", "dpo", "--out", str(plain)]).exit_code == 0
    assert len(plain.read_text().splitlines()) == 60
    with db.session() as session:  # with too few reviews there is no threshold: refused, nothing written
        for pair_id in ids[30:60]:
            save_review(session, pair_id, reviewer="ana", label="B")
    refused = CliRunner().invoke(
        cli, ["export", "t", "--format", "dpo", "--out", str(tmp_path / "x.jsonl"), "--trusted-judge"]
    )
    assert refused.exit_code == 1 and "no threshold" in refused.output and not (tmp_path / "x.jsonl").exists()
