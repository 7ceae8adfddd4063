"""The review queue's filters, sorts and paging, and the evaluation page's figures, on a small store."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.evaluation.reports import dataset_report
from core.review.queue import STATUSES, QueueFilter, queue_page, review_progress
from core.review.reviews import save_review
from storage.tables import Dataset, InstantScore, Judgment, Pair
from tests import factories


def _store(session: Session) -> list[int]:
    """Six pairs: 0 unjudged; 1-4 judged (2 inconsistent, 3 disagreeing); 5 judged twice; 4 reviewed+tagged."""
    dataset = Dataset(name="q", source="test")
    session.add(dataset)
    session.flush()
    ids = []
    for i in range(6):
        pair = Pair(
            dataset_id=dataset.id,
            prompt=f"prompt {i} {'needle' if i == 3 else ''}",
            response_a="a",
            response_b="b",
            reference_label="A",
            content_hash=str(i),
            source="t",
        )
        session.add(pair)
        session.flush()
        ids.append(pair.id)
    confidences = {1: 0.9, 2: 0.6, 3: 0.7, 4: 0.55, 5: 0.99}
    for i, conf in confidences.items():
        label = "B" if i == 3 else "A"
        session.add(
            Judgment(
                pair_id=ids[i],
                model="m",
                backend="transformers",
                label=label,
                confidence=conf,
                prob_a=conf if label == "A" else 1 - conf,
                consistent=i != 2,
                orders=[],
                timings={},
            )
        )
    session.add(
        Judgment(
            pair_id=ids[5],
            model="m",
            backend="transformers",
            label="B",
            confidence=0.51,
            prob_a=0.49,
            consistent=True,
            orders=[],
            timings={},
        )
    )  # the latest one counts
    save_review(session, ids[4], reviewer="r", label="B", tags=["hard"])
    return ids


def _add_pair(session: Session, ids: list[int], prompt: str) -> None:
    """One more pair in the dataset of `ids`."""
    dataset_id = session.get(Pair, ids[0]).dataset_id  # type: ignore[union-attr]
    session.add(Pair(dataset_id=dataset_id, prompt=prompt, response_a="a", response_b="b", content_hash=prompt))
    session.flush()


def _ids(session: Session, f: QueueFilter, page: int = 0, size: int = 25) -> tuple[list[int], int]:
    rows, total, _ = queue_page(session, f, page, size)
    return [r.pair_id for r in rows], total


def test_queue_filters_sorts_and_pages(session: Session) -> None:
    ids = _store(session)
    assert _ids(session, QueueFilter("q")) == (ids, 6)
    assert _ids(session, QueueFilter("q", status="unjudged")) == ([ids[0]], 1)
    assert _ids(session, QueueFilter("q", status="judged", reviewer="r")) == ([ids[1], ids[2], ids[3], ids[5]], 4)
    assert _ids(session, QueueFilter("q", status="reviewed", reviewer="r")) == ([ids[4]], 1)
    # Each person's queue: r's review is not s's.
    assert _ids(session, QueueFilter("q", status="judged", reviewer="s"))[1] == 5
    assert _ids(session, QueueFilter("q", status="reviewed", reviewer="s")) == ([], 0)
    assert _ids(session, QueueFilter("q", inconsistent_only=True)) == ([ids[2]], 1)
    assert _ids(session, QueueFilter("q", disagreeing_only=True)) == ([ids[3], ids[5]], 2)
    assert _ids(session, QueueFilter("q", tag="hard")) == ([ids[4]], 1)
    assert _ids(session, QueueFilter("q", search="needle")) == ([ids[3]], 1)
    # lowest confidence first (the latest judgment of pair 5 is 0.51), unjudged last
    assert _ids(session, QueueFilter("q", sort="confidence-asc"))[0] == [ids[5], ids[4], ids[2], ids[3], ids[1], ids[0]]
    assert _ids(session, QueueFilter("q", sort="confidence-desc"))[0][:2] == [ids[1], ids[3]]
    assert _ids(session, QueueFilter("q"), page=1, size=4) == ([ids[4], ids[5]], 6)
    row = queue_page(session, QueueFilter("q", status="reviewed", reviewer="r"))[0][0]
    assert (row.status, row.label, row.reviewed_label, row.agrees) == ("reviewed", "A", "B", True)
    assert row.cells()[-1] == "1 of 1"  # people who labelled it, of the reviews the dataset asks for


def test_dataset_report_counts_people_and_references(session: Session) -> None:
    _store(session)
    report = dataset_report(session, "q", "m")
    assert report.against_reference.n == 5 and report.against_reference.accuracy == 3 / 5
    assert report.confusion == {"A": {"A": 3, "B": 2}}
    assert report.against_reviews.n == 1 and report.against_reviews.accuracy == 0.0  # pair 4: person B, model A
    assert (report.people_model_agreement, report.agreement_n) == (0.0, 1)


def test_tag_filter_matches_whole_tags_in_any_script(session: Session) -> None:
    """Tags are matched as values, not as a LIKE on JSON text: non-ASCII tags are found, and '_'
    and '%' are characters, not wildcards."""
    ids = _store(session)
    save_review(session, ids[1], reviewer="r", label="A", tags=["ünïcode", "needs_check"])
    save_review(session, ids[2], reviewer="r", label="A", tags=["needsXcheck", "100%"])
    save_review(session, ids[3], reviewer="r", label="A", tags=["1000"])
    assert _ids(session, QueueFilter("q", tag="ünïcode")) == ([ids[1]], 1)
    assert _ids(session, QueueFilter("q", tag="needs_check")) == ([ids[1]], 1)
    assert _ids(session, QueueFilter("q", tag="100%")) == ([ids[2]], 1)
    assert _ids(session, QueueFilter("q", tag="ünï")) == ([], 0)  # whole tags only


def test_text_search_treats_wildcards_as_characters(session: Session) -> None:
    ids = _store(session)
    _add_pair(session, ids, "50% off_sale")
    assert _ids(session, QueueFilter("q", search="50%"))[1] == 1
    assert _ids(session, QueueFilter("q", search="f_s"))[1] == 1
    assert _ids(session, QueueFilter("q", search="%"))[1] == 1
    assert _ids(session, QueueFilter("q", search="_"))[1] == 1  # not every pair


def test_needs_you_offers_each_person_the_pairs_that_still_need_them(session: Session) -> None:
    """With two reviews a pair, a pair stays in everyone's "needs you" until two people labelled
    it, and never in the queue of someone who did; "disagreements" lists pairs whose people differ."""
    ids = _store(session)  # r labelled pair 4 (B)
    dataset = session.query(Dataset).filter_by(name="q").one()
    needs = QueueFilter("q", status="needs-you", reviewer="s")
    assert _ids(session, needs) == (ids[:4] + ids[5:], 5)  # one review a pair: pair 4 is done
    dataset.reviews_per_pair = 2
    assert _ids(session, needs) == (ids, 6)
    assert _ids(session, QueueFilter("q", status="needs-you", reviewer="r")) == (ids[:4] + ids[5:], 5)
    save_review(session, ids[4], reviewer="s", label="A")
    save_review(session, ids[0], reviewer="s", label="skip", reason="cut off")
    save_review(session, ids[0], reviewer="t", label="skip")
    assert _ids(session, needs) == ([ids[1], ids[2], ids[3], ids[5]], 4)
    assert _ids(session, QueueFilter("q", status="needs-you", reviewer="t")) == ([ids[1], ids[2], ids[3], ids[5]], 4)
    assert _ids(session, QueueFilter("q", status="disagreements", reviewer="t")) == ([ids[4]], 1)
    rows = {r.pair_id: r.cells()[-1] for r in queue_page(session, QueueFilter("q", reviewer="t"))[0]}
    assert (rows[ids[0]], rows[ids[4]], rows[ids[1]]) == ("2 of 2", "2 of 2", "0 of 2")
    progress = review_progress(session, "q", "s")
    assert (progress.total, progress.reviewed, progress.by_reviewer) == (6, 2, 2)
    assert progress.line("s") == "2 / 6 reviewed by 2 people, 2 by s"
    # A lead's final label is not a person's review: it neither fills a pair nor makes a disagreement.
    save_review(session, ids[1], reviewer="lead", final=True, label="A")
    assert ids[1] in _ids(session, needs)[0]


def test_the_progress_key_changes_with_every_review_import_and_overlap_change(session: Session) -> None:
    """The Review page counts progress again only when this key changed, so each thing that
    changes the counts must change it."""
    from core.review.queue import progress_key

    ids = _store(session)
    keys = [progress_key(session, "q")]
    save_review(session, ids[0], reviewer="s", label="A")
    keys.append(progress_key(session, "q"))
    _add_pair(session, ids, "new")
    keys.append(progress_key(session, "q"))
    session.query(Dataset).filter_by(name="q").one().reviews_per_pair = 3
    keys.append(progress_key(session, "q"))
    assert len(set(keys)) == 4 and progress_key(session, "q") == keys[-1]


def test_text_search_is_looked_up_in_an_index_kept_in_step_with_the_pairs(session: Session) -> None:
    """A needle of three characters or more is found through the trigram index (not a scan of every
    pair), in prompts and responses, in any case and script, with FTS syntax taken literally; the
    index follows inserts, edits and deletes."""
    from sqlalchemy import func, select, text

    from core.data.datasets import get_dataset
    from core.review.queue import _query

    ids = _store(session)
    _add_pair(session, ids, 'He said "STRAẞE" AND near(x) * ÜNÏCODE')
    assert _ids(session, QueueFilter("q", search="needle")) == ([ids[3]], 1)
    assert _ids(session, QueueFilter("q", search="ünïcode"))[1] == 1  # case-folded beyond ASCII
    assert _ids(session, QueueFilter("q", search='said "straẞe" and near(x) *'))[1] == 1  # quotes, operators: text
    assert _ids(session, QueueFilter("q", search="prompt"))[1] == 6
    pair = session.get(Pair, ids[2])
    pair.response_b = "a response about zebras"  # an edit is indexed
    session.flush()
    assert _ids(session, QueueFilter("q", search="ZEBRA")) == ([ids[2]], 1)
    query = _query(session, QueueFilter("q", search="zebra"), get_dataset(session, "q"))
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    plan = " ".join(str(row) for row in session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "pairs_text VIRTUAL TABLE INDEX" in plan, plan
    session.delete(get_dataset(session, "q"))  # its pairs go with it (ON DELETE CASCADE)
    session.flush()
    assert session.scalar(select(func.count()).select_from(Pair)) == 0
    stale = session.execute(text("SELECT rowid FROM pairs_text WHERE pairs_text MATCH '\"prompt\"'")).all()
    assert stale == []


def test_each_pair_knows_its_latest_judgment_whoever_writes_it(session: Session) -> None:
    """The latest judgment and its confidence stored on the pair follow every insert, confidence
    change and delete (the store's triggers), so the sorted queue is read off an index."""
    from sqlalchemy import delete, insert, update

    ids = _store(session)
    latest = {p.id: (p.latest_judgment_id, p.latest_confidence) for p in session.query(Pair).populate_existing()}
    newest = {i: max(j.id for j in session.query(Judgment).filter_by(pair_id=i)) for i in ids[1:]}
    assert latest[ids[0]] == (None, None)
    assert all(latest[i][0] == newest[i] for i in ids[1:]) and latest[ids[5]][1] == 0.51
    # Written with plain SQL, not through the models: the triggers still keep up.
    row = {"model": "m", "backend": "x", "label": "A", "confidence": 0.2, "orders": [], "timings": {}}
    session.execute(insert(Judgment).values(pair_id=ids[0], **row))
    session.execute(update(Judgment).where(Judgment.id == newest[ids[1]]).values(confidence=0.3))
    session.execute(delete(Judgment).where(Judgment.id == newest[ids[5]]))  # back to the one before
    session.expire_all()
    assert session.get(Pair, ids[0]).latest_confidence == 0.2
    assert session.get(Pair, ids[1]).latest_confidence == 0.3
    assert session.get(Pair, ids[5]).latest_confidence == 0.99
    assert _ids(session, QueueFilter("q", sort="confidence-asc"))[0] == [ids[0], ids[1], ids[4], ids[2], ids[3], ids[5]]
    # Its label and consistency too (migration 0013), which the inconsistent and disagreeing filters read.
    session.execute(update(Judgment).where(Judgment.pair_id == ids[0]).values(label="B", consistent=False))
    session.expire_all()
    assert (session.get(Pair, ids[0]).latest_label, session.get(Pair, ids[0]).latest_consistent) == ("B", False)
    assert _ids(session, QueueFilter("q", inconsistent_only=True, disagreeing_only=True))[0] == [ids[0]]
    assert (session.get(Pair, ids[5]).latest_label, session.get(Pair, ids[5]).latest_consistent) == ("A", True)
    session.execute(delete(Judgment).where(Judgment.pair_id == ids[0]))
    session.expire_all()
    latest_now = session.get(Pair, ids[0])
    assert latest_now is not None
    assert (latest_now.latest_judgment_id, latest_now.latest_confidence, latest_now.latest_label) == (None, None, None)


def test_a_sorted_page_is_read_off_an_index_from_either_end(session: Session) -> None:
    """Both confidence sorts walk an index (no sort of the whole dataset), and every page, the
    last ones read backwards, holds what one sorted list would."""
    from core.data.datasets import get_dataset
    from core.review.queue import _order, _query

    ids = _store(session)
    for n in range(17):
        _add_pair(session, ids, f"extra {n}")
    dataset_id = get_dataset(session, "q").id
    for i, margin in zip(ids, (0.3, 0.05, 0.3, 0.45, 0.1), strict=False):  # ties, and unscored pairs last
        session.add(InstantScore(pair_id=i, dataset_id=dataset_id, prob_a=0.5 + margin, margin=margin, trained_on=8))
    session.flush()
    for sort in ("id", "confidence-asc", "confidence-desc", "instant-uncertain"):
        f = QueueFilter("q", sort=sort)
        everything = _ids(session, f, 0, 100)[0]
        assert len(everything) == 23
        for size in (4, 5, 7):
            pages = [_ids(session, f, page, size)[0] for page in range(-(-23 // size))]
            assert [i for page in pages for i in page] == everything, (sort, size)
        if sort == "instant-uncertain":
            assert everything[:5] == [ids[1], ids[4], ids[0], ids[2], ids[3]]  # least sure first, ties by id
            continue  # the instant judge's scores are few and per dataset: no index sorts them
        for backwards in (False, True):
            query = _query(session, f, get_dataset(session, "q")).order_by(*_order(sort, backwards=backwards))
            compiled = query.limit(5).compile(session.get_bind())  # as it runs: bound parameters stay bound
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            explained = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)
            plan = " ".join(str(row) for row in explained)
            assert "TEMP B-TREE" not in plan, (sort, backwards, plan)


def test_a_filtered_queue_counts_up_to_a_cap_and_still_pages_on(session: Session) -> None:
    from core.review.queue import COUNT_CAP
    from core.review.workflow import QueueState

    ids = _store(session)
    judged = QueueFilter("q", status="judged", reviewer="x")  # pairs 1-5
    rows, total, counted = queue_page(session, judged, 0, 2, count_up_to=3)
    assert (total, counted) == (3, False) and [r.pair_id for r in rows] == ids[1:3]  # "more than 3"
    assert [r.pair_id for r in queue_page(session, judged, 2, 2, count_up_to=3).rows] == ids[5:6]  # read forwards
    assert queue_page(session, judged, 0, 2, count_up_to=5)[1:] == (5, True)  # under the cap: exact
    assert queue_page(session, QueueFilter("q"), 0, 2, count_up_to=3)[1:] == (6, True)  # the whole dataset: exact
    assert QueueState(judged, 0, [], COUNT_CAP, counted=False).size() == f"more than {COUNT_CAP:,} pairs"
    assert QueueState(judged, 0, [], 1234).size() == "1,234 pairs"


def test_pages_near_the_start_are_read_forwards_whatever_the_count(session: Session) -> None:
    # Reading a short result "from the end" (ORDER BY id DESC) made PostgreSQL walk a million pairs
    # backwards for 11 search matches (6 s); only deep pages are read from the end.
    from sqlalchemy import event

    ids = _store(session)
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert _ids(session, QueueFilter("q"), page=1, size=4) == (ids[4:], 6)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements and not any(" DESC" in s for s in statements), statements


def test_the_status_filter_includes_the_pairs_a_person_skipped(session: Session) -> None:
    """Issue 26, item 5: a skipped pair is found again by the status filter (it left "judged")."""
    ids = factories.dataset(session, 4, name="sk")
    save_review(session, ids[1], reviewer="r", label="skip", reason="no context")
    save_review(session, ids[2], reviewer="r", label="A")
    save_review(session, ids[3], reviewer="s", label="skip")
    assert "skipped" in [value for _, value in STATUSES]
    assert _ids(session, QueueFilter("sk", status="skipped", reviewer="r")) == ([ids[1]], 1)
    assert _ids(session, QueueFilter("sk", status="skipped", reviewer="s")) == ([ids[3]], 1)
