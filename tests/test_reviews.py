"""Reviews: each person's own, with history, undo and redo; a lead's final label; no lost update."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core.data.demo import demo_paths
from core.data.importer import import_files
from core.errors import ConflictError, GramError, NotFoundError
from core.review.reviews import find_review, history, redo, save_review, undo
from storage.database import Database
from storage.tables import Judgment, Pair, Review
from tests.helpers import LEADS, WINDOWS, assert_one_save_wins, race_review_saves


@pytest.fixture
def pair_id(db: Database) -> int:
    with db.session() as session:
        import_files(session, [demo_paths()[0]], dataset="demo", max_bytes=2**30, max_chars=200_000)
    with db.session() as session:
        pair = session.query(Pair).order_by(Pair.id).first()
        session.add(Judgment(pair=pair, model="m", backend="transformers", label="B", rationale="model says B"))
        return pair.id


def test_edits_undo_and_redo_with_a_complete_history(session: Session, pair_id: int) -> None:
    save_review(session, pair_id, reviewer="ana", label="A")
    save_review(session, pair_id, reviewer="ana", rationale="A answers the question.", tags=["checked"])
    review = undo(session, pair_id, reviewer="ana")
    assert (review.label, review.rationale, review.tags) == ("A", None, [])
    review = undo(session, pair_id, reviewer="ana")
    assert review.label is None
    with pytest.raises(GramError, match="nothing to undo"):
        undo(session, pair_id, reviewer="ana")
    review = redo(session, pair_id, reviewer="ana")
    assert review.label == "A"
    review = redo(session, pair_id, reviewer="ana")
    assert (review.rationale, review.tags) == ("A answers the question.", ["checked"])
    with pytest.raises(GramError, match="nothing to redo"):
        redo(session, pair_id, reviewer="ana")
    # A new edit after an undo drops the redo branch, as in any editor.
    undo(session, pair_id, reviewer="ana")
    save_review(session, pair_id, reviewer="ana", note="rewritten")
    with pytest.raises(GramError, match="nothing to redo"):
        redo(session, pair_id, reviewer="ana")
    actions = [e.action for e in history(session, pair_id)]
    assert actions == ["edit", "edit", "undo", "undo", "redo", "redo", "undo", "edit"]
    assert review.version == len(actions)


def test_a_review_never_changes_the_model_judgment(session: Session, pair_id: int) -> None:
    save_review(session, pair_id, reviewer="ana", label="A", rationale="my own words")
    judgment = session.query(Judgment).filter_by(pair_id=pair_id).one()
    assert (judgment.label, judgment.rationale) == ("B", "model says B")


def test_one_persons_review_edited_in_two_windows_conflicts_instead_of_overwriting(db: Database, pair_id: int) -> None:
    with db.session() as first:
        version = save_review(first, pair_id, reviewer="ana", label="A").version
    with db.session() as window_1, db.session() as window_2:
        save_review(window_2, pair_id, reviewer="ana", note="from the other tab", expected_version=version)
        window_2.commit()
        with pytest.raises(ConflictError, match="changed by you in another window"):
            save_review(window_1, pair_id, reviewer="ana", label="B", expected_version=version)


def test_each_person_keeps_their_own_review_of_a_pair(db: Database, pair_id: int) -> None:
    """Ana and Ben label one pair differently: two reviews, neither overwrites the other, and each
    one's version and history are their own."""
    with db.session() as session:
        save_review(session, pair_id, reviewer="ana", label="A", rationale="A is right", tags=["x"])
        save_review(session, pair_id, reviewer="ben", label="B", expected_version=0)  # his first: version 0
    with db.session() as session:
        ana, ben = find_review(session, pair_id, "ana"), find_review(session, pair_id, "ben")
        assert ana is not None and ben is not None
        assert (ana.label, ana.rationale, ana.tags, ana.version) == ("A", "A is right", ["x"], 1)
        assert (ben.label, ben.rationale, ben.tags, ben.version) == ("B", None, [], 1)
        assert [(e.reviewer, e.after["label"]) for e in history(session, pair_id)] == [("ana", "A"), ("ben", "B")]


def test_two_people_saving_one_pair_at_once_both_keep_their_review(db: Database, pair_id: int) -> None:
    """Real concurrency: Ana and Ben save their first review of the same pairs at the same
    instant; both are stored (before, the second was refused as a conflict)."""
    import threading

    with db.session() as session:
        pair_ids = [p.id for p in session.query(Pair).order_by(Pair.id).limit(8)]
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def review_all(who: str, label: str) -> None:
        for i in pair_ids:
            barrier.wait()
            try:
                with db.session() as session:
                    save_review(session, i, reviewer=who, expected_version=0, label=label)
            except Exception as error:  # reported below
                errors.append(f"{who} on {i}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=review_all, args=args) for args in (("ana", "A"), ("ben", "B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with db.session() as session:
        for i in pair_ids:
            labels = sorted((r.reviewer, r.label) for r in session.query(Review).filter_by(pair_id=i))
            assert labels == [("ana", "A"), ("ben", "B")]


def test_bad_reviews_are_refused(session: Session, pair_id: int) -> None:
    with pytest.raises(GramError, match="A, B, tie or skip"):
        save_review(session, pair_id, reviewer="ana", label="C")
    with pytest.raises(GramError, match="no fields"):
        save_review(session, pair_id, reviewer="ana", stars=5)
    with pytest.raises(NotFoundError):
        save_review(session, 10**9, reviewer="ana", label="A")


@pytest.mark.parametrize("sides", [WINDOWS, LEADS], ids=["one-person-two-windows", "two-leads-final-label"])
def test_two_saves_of_one_review_at_once_one_wins_and_the_other_is_told(
    db: Database, pair_id: int, sides: tuple[tuple[str, bool], ...]
) -> None:
    """Real concurrency on one SQLite file, on one review (a person's, from two windows; or a
    pair's final label, from two leads): first saves, then saves on reviewed pairs; never two
    winners (a lost update) and never a raw database error."""
    with db.session() as session:
        pair_ids = [p.id for p in session.query(Pair).order_by(Pair.id).limit(12)]
    first = race_review_saves(db, pair_ids, sides)  # nobody reviewed these pairs yet
    assert_one_save_wins(db, pair_ids, first, sides)
    later = race_review_saves(db, pair_ids, sides)  # now each has a review and a version
    assert_one_save_wins(db, pair_ids, later, sides)
    with db.session() as session:
        assert all(len(history(session, i)) == 2 for i in pair_ids)


def test_undo_and_redo_step_through_ones_own_changes_only(db: Database, pair_id: int) -> None:
    with db.session() as session:
        save_review(session, pair_id, reviewer="ana", label="A")
        save_review(session, pair_id, reviewer="ben", label="B")
    with db.session() as session:
        assert undo(session, pair_id, reviewer="ana").label is None  # Ana's z reverts her own label only
        assert find_review(session, pair_id, "ben").label == "B"  # type: ignore[union-attr]
    # The final label is one per pair: a lead's undo never reverts another lead's later change.
    with db.session() as session:
        save_review(session, pair_id, reviewer="lea", final=True, label="A")
        save_review(session, pair_id, reviewer="lou", final=True, label="B")
    with db.session() as session, pytest.raises(ConflictError, match="final label of pair .* changed by lou"):
        undo(session, pair_id, reviewer="lea", final=True)
    with db.session() as session:
        assert undo(session, pair_id, reviewer="lou", final=True).label == "A"  # Lou's own: fine
    with db.session() as session, pytest.raises(ConflictError):
        redo(session, pair_id, reviewer="lea", final=True)  # the undone change is Lou's to redo
    with db.session() as session:
        version = redo(session, pair_id, reviewer="lou", final=True).version
    with db.session() as session, pytest.raises(ConflictError, match="not done"):
        undo(session, pair_id, reviewer="lou", final=True, expected_version=version - 1)  # a stale view
    with db.session() as session:
        assert undo(session, pair_id, reviewer="lou", final=True, expected_version=version).label == "A"


def test_an_undo_racing_a_save_of_the_same_review_never_loses_the_save(db: Database, pair_id: int) -> None:
    """Real concurrency: Ana undoes her label in one window while she saves a note in another;
    if both went through, one of them would be silently reverted or lost."""
    import threading

    for trial in range(10):
        with db.session() as session:
            version = save_review(session, pair_id, reviewer="ana", label="A" if trial % 2 else "B").version
        barrier, outcome = threading.Barrier(2), {}

        def act(
            window: str,
            version: int = version,
            trial: int = trial,
            barrier: threading.Barrier = barrier,
            outcome: dict[str, str] = outcome,
        ) -> None:
            barrier.wait()
            try:
                with db.session() as session:
                    if window == "undo":
                        undo(session, pair_id, reviewer="ana", expected_version=version)
                    else:
                        save_review(session, pair_id, reviewer="ana", expected_version=version, note=f"n{trial}")
                outcome[window] = "done"
            except ConflictError:
                outcome[window] = "conflict"

        threads = [threading.Thread(target=act, args=(window,)) for window in ("undo", "save")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcome.values()) == ["conflict", "done"], outcome
        with db.session() as session:
            last = history(session, pair_id)[-1]
            assert last.action == ("undo" if outcome["undo"] == "done" else "edit")


def test_a_reviewers_session_undoes_its_own_change_and_is_told_when_another_window_came_after(
    db: Database, pair_id: int
) -> None:
    from core.review.workflow import Cursor, redo_last, review_pair, undo_last

    ana = review_pair(db, Cursor(pair_id, 0), "ana", None, label="A").cursor
    ana = undo_last(db, ana, "ana").cursor
    ana = redo_last(db, ana, "ana").cursor  # her own change, back and forth
    with db.session() as session:
        save_review(session, pair_id, reviewer="ben", label="B")  # a colleague's review: no matter
    ana = undo_last(db, ana, "ana").cursor
    ana = redo_last(db, ana, "ana").cursor
    with db.session() as session:
        save_review(session, pair_id, reviewer="ana", label="tie")  # Ana, in another window
    refused = undo_last(db, ana, "ana")
    assert refused.conflict and "changed by you in another window" in refused.message
    with db.session() as session:
        last = history(session, pair_id)[-1]
        assert (last.reviewer, last.action, last.after["label"]) == ("ana", "edit", "tie")


def test_a_skip_keeps_its_reason_until_the_pair_is_labelled_after_all(session: Session, pair_id: int) -> None:
    review = save_review(session, pair_id, reviewer="ana", label="skip", reason="the prompt is cut off")
    assert (review.label, review.reason) == ("skip", "the prompt is cut off")
    review = save_review(session, pair_id, reviewer="ana", reason="the prompt is cut off mid-sentence")
    assert review.reason == "the prompt is cut off mid-sentence"  # the reason of a skip can be edited
    review = save_review(session, pair_id, reviewer="ana", label="A")
    assert (review.label, review.reason) == ("A", "")  # labelled after all: the reason no longer holds
    with pytest.raises(GramError, match="a reason goes with a skip"):
        save_review(session, pair_id, reviewer="ana", reason="no")
    review = undo(session, pair_id, reviewer="ana")
    assert (review.label, review.reason) == ("skip", "the prompt is cut off mid-sentence")
    assert [e.after.get("reason") for e in history(session, pair_id)][:1] == ["the prompt is cut off"]


def test_a_skipped_pair_never_trains_and_is_kept_out_of_the_training_exports(session: Session, pair_id: int) -> None:
    from core.export.rows import export_rows
    from core.train.split import reviewed_pairs

    pair = session.get(Pair, pair_id)
    assert pair is not None and pair.reference_label in ("A", "B")
    save_review(session, pair_id, reviewer="ana", label="skip", reason="not judgeable")
    session.flush()
    assert reviewed_pairs(session, pair.dataset_id) == []
    for fmt in ("dpo", "sft"):
        result = export_rows(session, "demo", fmt, include_reference=True)  # type: ignore[arg-type]
        assert pair.prompt not in [row["prompt"] for row in result.rows if isinstance(row["prompt"], str)]
        assert result.skipped["skipped by a reviewer as not judgeable"] == 1
    dumped = [row for row in export_rows(session, "demo", "jsonl").rows if row.get("reviews")]
    assert dumped[0]["reviews"][0]["label"] == "skip" and dumped[0]["reviews"][0]["reason"] == "not judgeable"
