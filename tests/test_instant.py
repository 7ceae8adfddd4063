"""The instant judge: the fast path keeps each pair's head features, a head is refitted from the
reviews every few labels without running the model, its guess at each pair is kept before the
person labels it (a held-out test each time), the queue sorts by its doubt, and it becomes a
model version that `gram judge --fast` uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.evaluation.criteria import CRITERIA
from core.head.features import base_version_id, decode, encode
from core.head.instant import MIN_REVIEWS, live_figures, refit_if_due
from core.model.versions import active_version, get_version, spec_of
from core.review.queue import QueueFilter, queue_page
from core.review.reviews import save_review
from storage.database import Database
from storage.tables import InstantScore, Job, Judgment, Pair, PairFeature, Review
from tests.helpers import criterion_file, demo_on_embedded_model
from tests.helpers import gram_output as gram

NUMBERS = next(c for c in CRITERIA if c.name == "numbers")


def test_features_survive_the_store_as_float16() -> None:
    import torch

    row = torch.randn(1152) * 30
    back = decode([encode(row)])[0]
    assert back.shape == row.shape and torch.allclose(back, row, rtol=1e-3, atol=1e-2)


def test_a_datasets_features_are_read_in_chunks_whole_and_in_order(db: Database, settings) -> None:  # noqa: ANN001
    import torch

    from core.data.demo import seed_demo
    from core.head.features import FeatureSource, dataset_features, store_features
    from storage.tables import ModelVersion

    with db.session() as session:
        seed_demo(session, settings)
        version = ModelVersion(name="m", base_model="m")
        session.add(version)
        session.flush()
        ids = list(session.scalars(select(Pair.id).order_by(Pair.id.desc()).limit(10)))
        source = FeatureSource(version.id, (1, 2), 128)
        features = torch.randn(10, 8)
        store_features(session, source, ids, features)
        store_features(session, source, ids[:3], torch.zeros(3, 8))  # kept once: the first stays
        dataset_id = session.get(Pair, ids[0]).dataset_id  # type: ignore[union-attr]
        chunks = list(dataset_features(session, version.id, source.recipe, dataset_id, chunk=3))
    assert [len(c) for c, _ in chunks] == [3, 3, 3, 1]
    read = dict(zip([i for c, _ in chunks for i in c], torch.cat([f for _, f in chunks]), strict=True))
    assert list(read) == sorted(ids)
    assert all(torch.allclose(read[i], features[k], atol=1e-2) for k, i in enumerate(ids))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_instant_judge_learns_from_reviews_as_they_come(
    db: Database,
    settings,  # noqa: ANN001
    embedded_model_dir: Path,
    tmp_path: Path,
) -> None:
    demo_on_embedded_model(db, settings, embedded_model_dir)
    gram("import", str(criterion_file(tmp_path / "numbers.jsonl")), "--dataset", "numbers")
    gram("judge", "numbers", "--fast")
    with db.session() as session:
        pairs = list(
            session.scalars(select(Pair).join(Pair.dataset).where(Pair.dataset.has(name="numbers")).order_by(Pair.id))
        )
        spec = spec_of(active_version(session))  # type: ignore[arg-type]
        # The fast path kept every pair's features on the way, under the model's version.
        kept = session.scalar(
            select(func.count()).select_from(PairFeature).where(PairFeature.pair_id.in_([p.id for p in pairs]))
        )
        assert kept == len(pairs) >= 40
    version_id = base_version_id(db, spec)

    reviewed, guesses, heads = pairs[:24], {}, []
    for k, pair in enumerate(reviewed):
        with db.session() as session:
            before = session.get(InstantScore, pair.id)
            guesses[pair.id] = before.prob_a if before else None
            shown = session.scalar(select(Judgment.id).where(Judgment.pair_id == pair.id))
            save_review(session, pair.id, reviewer="ana", label=pair.reference_label, judgment_id=shown)
        fit = refit_if_due(db, "numbers", version_id)
        if fit is not None and fit.trained_on:  # a head (the first needs both labels among the reviews)
            assert fit.trained_on == k + 1 and fit.reviews_without_features == 0, fit
            heads.append(k + 1)
        with db.session() as session:
            # A kept score is always a held-out one: never of a pair its head trained on.
            for score in session.scalars(select(InstantScore)):
                assert score.pair_id not in {p.id for p in reviewed[: score.trained_on]}
    with db.session() as session:
        kept_guesses = dict(session.execute(select(Review.pair_id, Review.instant_prob_a)).all())
        live = live_figures(session, "numbers", "ana")
    # Each review kept the guess the instant judge had made before the person labelled the pair.
    assert {i: kept_guesses[i] for i in guesses} == guesses
    predicted = sum(1 for g in guesses.values() if g is not None)
    assert heads[0] >= MIN_REVIEWS and heads[1:] == list(range(heads[0] // 4 * 4 + 4, 25, 4)), heads
    assert live.instant.n == predicted >= 16 and live.trained_on == 24
    # On the pairs nobody reviewed, against their labels: the bar is 0.8 after 24 reviews.
    assert live.reference.n == len(pairs) - 24 and live.reference.rate is not None and live.reference.rate >= 0.8, live
    assert live.instant.agreed > live.shown_model.agreed, live  # it learnt what the untrained model did not know
    shown = live.markdown()  # every figure with its n and interval, and under 20 pairs it says so
    assert "95% CI" in shown and ("too few to tell" in shown) == (min(live.instant.n, live.reference.n) < 20), shown

    # The queue, least sure first: scored pairs by |P - 0.5|, the reviewed (unscored) ones last.
    with db.session() as session:
        rows = queue_page(session, QueueFilter("numbers", sort="instant-uncertain"), page_size=len(pairs)).rows
        margins = dict(session.execute(select(InstantScore.pair_id, InstantScore.margin)).all())
    order = [r.pair_id for r in rows]
    assert [margins[i] for i in order[: len(margins)]] == sorted(margins.values())
    assert set(order[len(margins) :]) == {p.id for p in reviewed}

    # Kept as a model version, the head is the one `gram judge --fast` runs.
    kept = gram("instant", "numbers", "--reviewer", "ana", "--keep")
    assert "fitted on 24 reviewed pairs" in kept and "agreed with ana on" in kept, kept
    name = re.search(r"made version (\S+)", kept).group(1)  # type: ignore[union-attr]
    with db.session() as session:
        version = get_version(session, name)
        assert version.head_path and version.parent_id is not None and len(version.config["train_keys"]) == 24
        scores = dict(session.execute(select(InstantScore.pair_id, InstantScore.prob_a)).all())
    gram("models", "activate", name)
    gram("judge", "numbers", "--fast")
    with db.session() as session:
        judged = dict(
            session.execute(
                select(Judgment.pair_id, Judgment.prob_a).where(Judgment.model_version_id == version.id)
            ).all()
        )
    assert len(judged) == len(pairs)
    assert max(abs(judged[i] - p) for i, p in scores.items()) < 0.02  # float16 features against float32
    # A head adaptation of the same reviews reads the kept features: no forward pass to train.
    gram("models", "activate", str(version.parent_id))
    gram("adapt", "numbers", "--method", "head", "--holdout", "0.3")
    with db.session() as session:
        job = session.scalars(select(Job).where(Job.kind == "adapt")).one()
        assert job.result["training"]["kept"] == job.result["training"]["examples"] > 0, job.result["training"]
        assert "kept by the fast path" in job.log
