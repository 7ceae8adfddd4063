"""Features read once per pair and base model (issue 28, item 1): every head version of one base
model (the default judge, the instant judge, an adapted head) judges a pair whose features the
store keeps from those features, without running the model; the model reads only the others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.head.classifier import HEAD_POOLS, Head, fit_head, head_layers
from core.head.features import FeatureSource, base_version_id, kept_features
from core.judge.run import run_judging
from core.judge.work import JudgeRun
from core.model.spec import ModelSpec
from core.text.prompting import LabelSlot
from storage.database import Database
from storage.tables import Judgment, Pair, PairFeature
from tests import factories
from tests.fakes import ScriptedBackend

FAST = "label-only"


class CountingBackend(ScriptedBackend):
    """The scripted backend, counting the label slots its "model" runs on."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.slots_run = 0

    def slot_states_and_logprobs(
        self, slots: Sequence[LabelSlot], layers: Sequence[int], pools: Sequence[str] = ()
    ) -> tuple[Any, list[tuple[float, float]]]:
        self.slots_run += len(slots)
        return super().slot_states_and_logprobs(slots, layers, pools)


def _texts(n: int) -> list[tuple[str, str, str]]:
    # Response A names a fruit on even rows: a criterion the bag-of-words states carry.
    return [
        (f"question {i}", f"apple pear {i}" if i % 2 == 0 else f"stone brick {i}", f"word {i} " * (1 + i % 3))
        for i in range(n)
    ]


def _kept(db: Database, spec: ModelSpec, source: FeatureSource) -> tuple[list[int], Any]:
    with db.session() as session:
        ids = list(session.scalars(select(Pair.id).order_by(Pair.id)))
        return kept_features(session, base_version_id(db, spec), source.recipe, ids)


def test_a_head_version_judges_kept_pairs_without_the_model(db: Database, session: Session, tmp_path: Path) -> None:
    ids = factories.dataset(session, name="kept", texts=_texts(10), labels=None)
    session.commit()
    base = CountingBackend(ModelSpec("base", str(tmp_path / "model")))
    run_judging(db, base, JudgeRun("kept", protocol=FAST), show_progress=False)
    assert base.slots_run == 2 * len(ids)  # both orders of every pair, once
    source = FeatureSource(base_version_id(db, base.spec), head_layers(base.num_layers), base.max_model_len, HEAD_POOLS)
    kept_ids, features = _kept(db, base.spec, source)
    assert kept_ids == ids

    # A head fitted on the kept features, as an adaptation or the instant judge would.
    labels = ["A" if i % 2 == 0 else "B" for i in range(len(ids))]
    head = fit_head(features, labels, source.layers, source.pools)
    head.save(tmp_path / "head")
    with_head = CountingBackend(replace(base.spec, name="base-head", head=str(tmp_path / "head")))
    run_judging(db, with_head, JudgeRun("kept", protocol=FAST), show_progress=False)
    assert with_head.slots_run == 0  # every pair's features were kept: no model ran
    expected = Head.load(str(tmp_path / "head")).prob_a(features).tolist()
    with db.session() as s:
        stored = s.scalars(select(Judgment).where(Judgment.model == "base-head").order_by(Judgment.pair_id)).all()
        assert [j.pair_id for j in stored] == ids
        assert [j.prob_a for j in stored] == pytest.approx(expected, abs=1e-6)

    # A pair added later has no kept features: the model reads that one alone, and keeps it.
    (new,) = factories.dataset(session, name="more", texts=[("question 99", "apple pear", "word")], labels=None)
    session.commit()
    with db.session() as s:
        s.get(Pair, new).dataset_id = s.get(Pair, ids[0]).dataset_id
    run_judging(db, with_head, JudgeRun("kept", protocol=FAST), show_progress=False)
    assert with_head.slots_run == 2
    with db.session() as s:
        assert s.scalar(select(PairFeature.id).where(PairFeature.pair_id == new)) is not None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fitting_and_measuring_a_head_read_only_the_pairs_whose_features_are_not_kept(
    db: Database, session: Session, embedded_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.backends.transformers_backend import TransformersBackend
    from core.head.fitting import head_features
    from core.text.pair import PairText

    rows = _texts(6)
    ids = factories.dataset(session, name="half", texts=rows, labels=None)
    session.commit()
    spec = ModelSpec("smollm2", str(embedded_model_dir))
    backend = TransformersBackend(spec)
    try:
        run_judging(db, backend, JudgeRun("half", protocol=FAST, limit=3), show_progress=False)
    finally:
        backend.close()
    texts = [PairText(*row) for row in rows]
    reads: list[tuple[int, int]] = []
    features, _, had = head_features(db, spec, ids, texts, on_step=lambda read, to: reads.append((read, to)))
    assert had["kept"] == 3 and reads[-1] == (3, 3)  # the model read the other three only
    again, _, had = head_features(db, spec, ids, texts, on_step=lambda read, to: reads.append((read, to)))
    assert had["kept"] == 6 and len(reads) == 1  # now all are kept: no model at all
    import torch

    assert torch.allclose(again, features, rtol=1e-3, atol=1e-4)  # the same features, kept as float16

    # The adaptation's held-out figures of the new head: from the kept features, no forward pass,
    # the same verdicts the model gives when it reads the pairs.
    from core.head.fast_path import score_pairs
    from core.train.adaptation import held_out_scores
    from core.train.split import LabelledPair

    labels = ["A" if i % 2 == 0 else "B" for i in range(len(ids))]
    fit_head(features, labels, *FeatureSource.reads_of(_recipe(db, spec))).save(tmp_path / "head")
    head_spec = replace(spec, name="smollm2-head", head=str(tmp_path / "head"))
    backend = TransformersBackend(head_spec)
    try:
        by_model = score_pairs(backend, texts)
    finally:
        backend.close()
    forward_passes: list[int] = []
    original = TransformersBackend.slot_states_and_logprobs

    def counted(self: Any, slots: Any, *args: Any, **kwargs: Any) -> Any:
        forward_passes.append(len(slots))
        return original(self, slots, *args, **kwargs)

    monkeypatch.setattr(TransformersBackend, "slot_states_and_logprobs", counted)
    held = [LabelledPair(i, t, label) for i, t, label in zip(ids, texts, labels, strict=True)]
    rows = held_out_scores(db, head_spec, held, batch_size=8)
    assert not forward_passes
    assert [r["prob_a"] for r in rows] == pytest.approx([s.prob_a for s in by_model], abs=1e-3)


def _recipe(db: Database, spec: ModelSpec) -> str:
    with db.session() as session:
        return session.scalars(
            select(PairFeature.recipe).where(PairFeature.model_version_id == base_version_id(db, spec))
        ).first()
