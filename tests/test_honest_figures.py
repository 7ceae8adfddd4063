"""No training pair is shown as a result (issue 25, item 5): every figure of an evaluation leaves
out the pairs the verdict's version or one of its ancestors trained on, by content in either order,
and says how many; a judge head's position flag reads "consistent by construction"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.context import StudioContext
from app.pages import evaluate as evaluate_page
from app.render import verdict_html
from core.data.identity import content_key
from core.data.pair_record import PairRecord
from core.evaluation.metrics import evaluate
from core.evaluation.reports import dataset_report, evaluate_file, stored_scores
from core.judge.generative import JudgeOptions
from core.review.pair_view import JudgmentView
from core.review.queue import QUEUE_COLUMNS, QueueFilter, queue_page
from core.review.reviews import save_review
from core.settings import Settings
from core.vocab import Label
from storage.database import Database
from storage.tables import Judgment, ModelVersion, Pair
from tests import factories
from tests.fakes import ScriptedBackend

N = 30
TRAINED = 10  # pairs 0-9: 0-4 by the parent's keys, 5-9 by the child's pair ids (a swapped copy)


def _texts(i: int) -> tuple[str, str, str]:
    return f"question {i}", f"first answer {i}" + "!" * (i % 3), f"second answer {i}"


def _head_orders(prob_a: float, label: str) -> list[dict[str, Any]]:
    return [{"order": o, "prob_a": prob_a, "label": label, "head": True} for o in ("AB", "BA")]


def _lineage(session: Session) -> tuple[list[int], int]:
    """A dataset "d" of N pairs, and a head version "child" whose parent trained on pairs 0-4 (by
    key) and which itself trained on swapped copies of pairs 5-9 in another dataset (by id); the
    child's verdicts on every pair of "d": right on the trained pairs, right on half the others."""
    labels = ["A" if i % 2 else "B" for i in range(N)]
    ids = factories.dataset(session, name="d", labels=labels, texts=[_texts(i) for i in range(N)])
    swapped = [(p, b, a) for p, a, b in (_texts(i) for i in range(5, TRAINED))]
    copies = factories.dataset(session, name="training-copies", texts=swapped)
    parent = ModelVersion(
        name="parent", base_model="base", config={"train_keys": [content_key(*_texts(i)) for i in range(5)]}
    )
    session.add(parent)
    session.flush()
    child = ModelVersion(
        name="child", base_model="base", head_path="/heads/child", parent_id=parent.id,
        config={"train_pair_ids": copies},
    )  # fmt: skip
    session.add(child)
    session.flush()
    for i, pair_id in enumerate(ids):
        right = i < TRAINED or i % 4 < 2
        label = labels[i] if right else {"A": "B", "B": "A"}[labels[i]]
        prob_a = 0.9 if label == "A" else 0.1
        session.add(
            Judgment(
                pair_id=pair_id, model_version_id=child.id, model="child", backend="transformers",
                protocol="label-only", label=label, confidence=0.9, prob_a=prob_a,
                orders=_head_orders(prob_a, label), consistent=True,
            )
        )  # fmt: skip
    session.flush()
    return ids, child.id


def _right_on_untrained() -> int:
    return sum(1 for i in range(TRAINED, N) if i % 4 < 2)


def test_dataset_figures_leave_out_what_the_version_and_its_ancestors_trained_on(session: Session) -> None:
    ids, _ = _lineage(session)
    for i in (0, 6, 12, 13):  # two trained pairs and two others reviewed, each as the reference says
        save_review(session, ids[i], reviewer="ana", label=session.get(Pair, ids[i]).reference_label)
    report = dataset_report(session, "d", "child")
    ref = report.against_reference
    assert (ref.n, ref.trained_excluded) == (N - TRAINED, TRAINED)
    assert ref.accuracy == _right_on_untrained() / (N - TRAINED)
    assert sum(sum(row.values()) for row in report.confusion.values()) == N - TRAINED
    assert (report.against_reviews.n, report.against_reviews.trained_excluded) == (2, 2)
    assert report.agreement_n == 2  # pairs 12 and 13 only
    assert "trained on (never counted): 10" in "\n".join(ref.lines())


def test_stored_scores_of_a_version_mark_its_training_pairs(session: Session) -> None:
    _, child_id = _lineage(session)
    dataset_id = session.scalars(select(Pair.dataset_id).where(Pair.prompt == "question 0")).first()
    assert dataset_id is not None
    figures = evaluate(stored_scores(session, dataset_id, "child", "label-only", version_id=child_id))
    assert (figures.n, figures.trained_excluded) == (N - TRAINED, TRAINED)


def test_a_heads_position_flag_reads_consistent_by_construction(session: Session) -> None:
    ids, _ = _lineage(session)
    ref = dataset_report(session, "d", "child").against_reference
    assert ref.position_consistency is None and ref.consistency_n == 0
    assert ref.consistent_by_construction == N - TRAINED
    assert "by construction" in (ref.consistency_text or "")
    judgment = session.scalars(select(Judgment).where(Judgment.pair_id == ids[15])).one()
    shown = verdict_html(JudgmentView.of(judgment))
    assert "by construction" in shown and "Both orders agree.</strong>" not in shown
    row = next(r for r in queue_page(session, QueueFilter("d")).rows if r.pair_id == ids[15])
    assert row.cells()[QUEUE_COLUMNS.index("consistent")] == "by construction"


def test_the_evaluate_page_and_compare_say_how_many_pairs_were_left_out(settings: Settings, db: Database) -> None:
    with db.session() as session:
        _lineage(session)
    ctx = StudioContext(settings.model_copy(update={"model": "unused"}), db)
    text, confusion, _svg = evaluate_page.evaluation_view(ctx, "d", "child")
    assert f"on {N - TRAINED}" in text and f"**Left out of every figure:** {TRAINED} pairs" in text
    assert int(confusion["pairs"].sum()) == N - TRAINED
    compared = evaluate_page.compare_models(ctx, "d", ["child"]).iloc[0]
    assert compared["scored pairs"] == N - TRAINED and compared["trained on (left out)"] == TRAINED
    assert compared["position consistency"] == "by construction (a head)"


def test_a_file_evaluation_judges_no_pair_the_model_trained_on() -> None:
    records = [PairRecord(*_texts(i), label=Label.A) for i in range(8)]
    records.append(PairRecord(*(lambda p, a, b: (p, b, a))(*_texts(0)), label=Label.B))  # pair 0 swapped
    trained = {content_key(*_texts(i)) for i in range(3)}
    figures = evaluate_file(ScriptedBackend(), records, fast=True, options=JudgeOptions(), trained=trained)
    assert (figures.n, figures.trained_excluded) == (5, 4)
