"""A team on one dataset: each person's review, the final label that training and exports use,
agreement figures checked against hand computations, and holds that spread people over pairs."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.export.rows import export_rows
from core.review.agreement import cohen_kappa, team_agreement
from core.review.consensus import final_labels
from core.review.queue import QueueFilter
from core.review.reviews import save_review
from core.review.workflow import neighbour, open_queue
from core.train.split import reviewed_pairs
from storage.database import Database
from storage.tables import Dataset, Judgment, Pair, ReviewHold
from tests import factories


def _dataset(session: Session, n: int = 6, name: str = "team") -> list[int]:
    return factories.dataset(session, n, name=name)


def _label(session: Session, ids: list[int], reviewer: str, labels: str) -> None:
    for pair_id, label in zip(ids, labels.split(), strict=True):
        if label != "-":
            save_review(session, pair_id, reviewer=reviewer, label=label, rationale=f"{reviewer} says {label}")


def test_the_final_label_is_the_leads_else_the_peoples_majority(session: Session) -> None:
    ids = _dataset(session, 6)
    _label(session, ids, "ana", "A A A  skip B -")
    _label(session, ids, "ben", "A B A  skip - -")
    _label(session, ids, "cy", "- - B  A    - -")
    finals = final_labels(session, ids)
    assert [(finals[i].label, finals[i].how) for i in ids] == [
        ("A", "consensus"),  # agreed
        (None, "disputed"),  # one each: nobody's label wins
        ("A", "consensus"),  # two of three
        ("skip", "consensus"),  # two skips against one A: not judgeable
        ("B", "consensus"),  # a single review is its own consensus
        (None, "unreviewed"),
    ]
    assert finals[ids[2]].votes == {"A": 2, "B": 1}
    save_review(session, ids[1], reviewer="lead", final=True, label="B", rationale="B cites the source")
    settled = final_labels(session, [ids[1]])[ids[1]]
    assert (settled.label, settled.how, settled.rationale) == ("B", "adjudicated", "B cites the source")
    save_review(session, ids[1], reviewer="lead", final=True, label=None)  # the lead takes it back
    assert final_labels(session, [ids[1]])[ids[1]].how == "disputed"


def test_training_and_exports_use_the_final_label_and_leave_disputed_pairs_out(session: Session) -> None:
    ids = _dataset(session, 3)
    _label(session, ids, "ana", "A A B")
    _label(session, ids, "ben", "A B B")
    dataset_id = session.get(Pair, ids[0]).dataset_id  # type: ignore[union-attr]
    assert [(p.pair_id, p.label) for p in reviewed_pairs(session, dataset_id)] == [(ids[0], "A"), (ids[2], "B")]
    dpo = export_rows(session, "team", "dpo")
    assert len(dpo.rows) == 2 and dpo.skipped["disputed by reviewers (no final label yet)"] == 1
    # include_reference never fills in a pair people disputed: their disagreement is the finding.
    assert len(export_rows(session, "team", "dpo", include_reference=True).rows) == 2
    save_review(session, ids[1], reviewer="lead", final=True, label="B", rationale="the lead's reasons")
    trained = {p.pair_id: (p.label, p.rationale) for p in reviewed_pairs(session, dataset_id)}
    assert trained[ids[1]] == ("B", "the lead's reasons")
    assert trained[ids[0]][1] in ("ana says A", "ben says A")  # written by someone who chose A
    sft = export_rows(session, "team", "sft")
    assert len(sft.rows) == 3
    assert "the lead's reasons" in sft.rows[1]["completion"][0]["content"]
    dump = export_rows(session, "team", "jsonl").rows[1]["reviews"]
    assert sorted((r["reviewer"], r["label"], r["final"]) for r in dump) == [
        ("ana", "A", False),
        ("ben", "B", False),
        ("lead", "B", True),
    ]


def test_agreement_matches_a_hand_computation(session: Session) -> None:
    """Two people on six pairs. By hand: they agree on 4 of 6 (p_o = 2/3); each chose A on 3 of 6,
    so p_e = 0.5*0.5 + 0.5*0.5 = 1/2 and kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3. Krippendorff's alpha
    (nominal): 12 values, 6 A and 6 B; the two disagreeing pairs give D_o = 4/12 and
    D_e = 2*6*6 / (12*11) = 6/11, so alpha = 1 - (1/3) / (6/11) = 7/18."""
    ids = _dataset(session, 6)
    _label(session, ids, "ana", "A A B B A B")
    _label(session, ids, "ben", "A B B B A A")
    for pair_id, model in zip(ids, ["A", "A", "A", "B", "B", "B"], strict=True):
        session.add(Judgment(pair_id=pair_id, model="m", backend="transformers", label=model, orders=[], timings={}))
    session.flush()
    team = team_agreement(session, "team")
    assert team.reviewers == ["ana", "ben"]
    (a, b, kappa) = team.kappas[0]
    assert (a, b, kappa.n) == ("ana", "ben", 6) and kappa.value == pytest.approx(1 / 3)
    assert kappa.low is not None and kappa.high is not None and kappa.low < 1 / 3 < kappa.high
    assert team.alpha.value == pytest.approx(7 / 18) and team.alpha.n == 6
    assert "too few pairs to tell" in kappa.shown()
    ana = team.people[0]
    assert (ana.with_others.agreed, ana.with_others.n) == (4, 6)  # the others' consensus: Ben's labels
    assert (ana.with_model.agreed, ana.with_model.n) == (4, 6)  # model A A A B B B against A A B B A B
    assert [d.pair_id for d in team.disagreements] == [ids[1], ids[5]]
    # A lead's final label is the reference for everyone where it is set.
    save_review(session, ids[1], reviewer="lead", final=True, label="A")
    ana = team_agreement(session, "team").people[0]
    assert (ana.with_others.agreed, ana.with_others.n) == (5, 6)


def test_cohen_kappa_edge_cases() -> None:
    assert cohen_kappa(["A", "B"], ["A", "B"]) == 1.0
    assert cohen_kappa(["A", "A"], ["A", "A"]) is None  # chance agreement is certain: undefined
    assert cohen_kappa(["A", "B", "A", "B"], ["B", "A", "B", "A"]) == pytest.approx(-1.0)
    assert cohen_kappa([], []) is None


def test_three_people_with_gaps_get_alpha_and_a_kappa_for_each_two(session: Session) -> None:
    ids = _dataset(session, 5)
    _label(session, ids, "ana", "A A B B tie")
    _label(session, ids, "ben", "A A B - tie")
    _label(session, ids, "cy", "- A B B skip")
    team = team_agreement(session, "team")
    assert [(a, b) for a, b, _ in team.kappas] == [("ana", "ben"), ("ana", "cy"), ("ben", "cy")]
    assert team.alpha.value == pytest.approx(1.0) and team.alpha.n == 5  # every pairable value agrees
    assert team.disagreements[0].labels == {"ana": "tie", "ben": "tie", "cy": "skip"}


def test_two_people_opening_their_needs_you_queue_at_once_start_on_different_pairs(db: Database) -> None:
    """Real concurrency: two threads open the same "needs you" queue at the same instant, many
    times over; they never start on the same pair, and moving on skips the colleague's pair."""
    with db.session() as session:
        _dataset(session, 10)
        session.get(Dataset, 1).reviews_per_pair = 2  # type: ignore[union-attr]
    for trial in range(8):
        with db.session() as session:  # each trial on free pairs (with all ten held, both share one)
            session.execute(delete(ReviewHold))
        barrier, starts = threading.Barrier(2), {}
        names = (f"ana{trial}", f"ben{trial}")

        def open_it(who: str, barrier: threading.Barrier = barrier, starts: dict[str, int | None] = starts) -> None:
            barrier.wait()
            starts[who] = open_queue(db, QueueFilter("team", status="needs-you", reviewer=who), 0)[0].start

        threads = [threading.Thread(target=open_it, args=(who,)) for who in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(starts) == 2 and None not in starts.values() and len(set(starts.values())) == 2, starts
    queue, _ = open_queue(db, QueueFilter("team", status="needs-you", reviewer="cy"), 0)
    other, _ = open_queue(db, QueueFilter("team", status="needs-you", reviewer="dee"), 0)
    assert queue.start != other.start
    _, after = neighbour(db, queue, queue.start, 1)
    assert after not in (queue.start, other.start)  # Dee holds the next one: Cy skips it


def test_two_people_taking_turns_through_needs_you_each_review_every_pair_once(db: Database) -> None:
    """Overlap 2, two people labelling in turns and moving on as the studio does: each reviews
    every pair exactly once, and nobody is ever sent to a pair they already labelled."""
    from core.review.workflow import Cursor, review_pair

    with db.session() as session:
        ids = _dataset(session, 7)
        session.get(Dataset, 1).reviews_per_pair = 2  # type: ignore[union-attr]
    people = {}
    for who in ("ana", "ben"):
        queue, _ = open_queue(db, QueueFilter("team", status="needs-you", reviewer=who), 0)
        people[who] = (queue, Cursor(queue.start, 0, reviewer=who), [])
    assert people["ana"][1].pair_id != people["ben"][1].pair_id
    for _ in range(2 * len(ids)):
        for who in ("ana", "ben"):
            queue, cursor, done = people[who]
            if len(done) == len(ids):
                continue
            assert cursor.pair_id not in done, (who, cursor.pair_id, done)
            saved = review_pair(db, cursor, who, None, label="A")
            assert saved.stored, saved.message
            done.append(cursor.pair_id)
            queue, next_id = neighbour(db, queue, cursor.pair_id, 1)
            people[who] = (queue, Cursor(next_id, 0, reviewer=who), done)
    assert sorted(people["ana"][2]) == ids and sorted(people["ben"][2]) == ids
    queue, _ = open_queue(db, QueueFilter("team", status="needs-you", reviewer="ana"), 0)
    assert queue.total == 0 and queue.start is None


def test_gram_agreement_prints_the_figures(db: Database) -> None:
    from tests.helpers import gram_output

    with db.session() as session:
        ids = _dataset(session, 6)
        _label(session, ids, "ana", "A A B B A B")
        _label(session, ids, "ben", "A B B B A A")
    out = gram_output("agreement", "team")
    assert "Cohen's kappa, ana and ben: 0.33 (n = 6" in out and "alpha, everyone: 0.39" in out
    assert f"disagreements: 2 (pairs {ids[1]}, {ids[5]})" in out
