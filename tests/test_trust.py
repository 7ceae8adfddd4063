"""Trust, second round (issue 24): a careless or hostile teammate, a strange file, a bad setting.

One test class of defect each: imports that speak for others, one damaged row, paths inside a
folder, names that look alike, data that expands, roles, toasts, and bad inputs and settings.
All on a real store, without a model.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import gradio as gr
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from app.context import StudioContext
from app.handlers import shown_errors
from app.pages import datasets as datasets_page
from app.pages import evaluate as evaluate_page
from app.pages import judge as judge_page
from app.pages.review.view import pair_values, queue_cells
from app.pages.team import adjudication_view
from core.access.roles import Team
from core.data.datasets import get_dataset, rename_dataset
from core.data.importer import import_files, parse_files
from core.data.paths import NOT_ALLOWED, allowed_import_path
from core.errors import ConfigError, ConflictError, GramError, InputFileError, PermissionDenied
from core.export.deletion import delete_dataset
from core.export.rows import export_rows, export_to_folder
from core.jobs.claims import create_or_find
from core.review.pair_view import pair_detail
from core.review.queue import rows_now
from core.review.reviews import save_review, undo
from core.settings import Settings
from core.vocab import JobKind, JobStatus
from storage.database import Database
from storage.tables import Dataset, Job, Judgment, Pair, Review, ReviewEvent

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"max_bytes": 50 * 2**20, "max_chars": 200_000}
TEAM = Team(frozenset({"lead"}))


def pair_row(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "prompt": f"question {i}",
        "response_a": f"answer a{i}",
        "response_b": f"answer b{i}",
        "label": "A",
        **extra,
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def good_review(**changes: Any) -> dict[str, Any]:
    state = {"label": "A", "reason": "", "rationale": None, "tags": [], "note": ""}
    review = {**state, "reviewer": "ana", "final": False, "version": 1}
    review["events"] = [{"action": "edit", "before": {**state, "label": None}, "after": state, "reviewer": "ana"}]
    return {**review, **changes}


def good_judgment(**changes: Any) -> dict[str, Any]:
    judgment = {
        "model": "m",
        "backend": "transformers",
        "protocol": "label-only",
        "origin": "judge",
        "label": "A",
        "confidence": 0.7,
        "prob_a": 0.7,
        "orders": [{"order": "AB", "label": "A", "prob_a": 0.7}],
        "timings": {"seconds": 0.1},
    }
    return {**judgment, **changes}


def ctx_of(settings: Settings, db: Database, team: Team = TEAM) -> StudioContext:
    return StudioContext(settings.model_copy(update={"model": "unused"}), db, team=team)


# --- 1. an import never speaks for someone else; every field of a dump is checked ----------------------


def test_a_reviewer_cannot_import_other_peoples_reviews_but_an_admin_can(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    dump = write_jsonl(
        tmp_path / "dump.jsonl",
        [pair_row(1, reviews=[good_review(reviewer="ben", final=True)]), pair_row(2, judgments=[good_judgment()])],
    )
    ctx = ctx_of(settings, db)
    for call in (
        lambda: datasets_page.run_import(ctx, [str(dump)], "", "", "taken", False, "ana"),
        lambda: datasets_page.preview_import(ctx, [str(dump)], "", "", "ana"),
    ):
        with pytest.raises(PermissionDenied, match="only an admin"):
            call()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Pair)) == 0
    datasets_page.run_import(ctx, [str(dump)], "", "", "restored", False, "lead")
    with db.session() as session:
        review = session.scalar(select(Review))
        assert review is not None and (review.reviewer, review.final) == ("ben", True)
    plain = write_jsonl(tmp_path / "plain.jsonl", [pair_row(3)])
    datasets_page.run_import(ctx, [str(plain)], "", "", "plain", False, "ana")  # plain pairs are anyone's


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("judgments", good_judgment(orders=[1, 2])),
        ("judgments", good_judgment(orders=[{"order": "XY"}])),
        ("judgments", good_judgment(orders=[{"order": "AB", "prob_a": 3}])),
        ("judgments", good_judgment(orders=[{"order": "AB", "surprise": 1}])),
        ("judgments", good_judgment(orders=[{"order": "AB"}] * 3)),
        ("judgments", good_judgment(confidence=7)),
        ("judgments", good_judgment(prob_a=-0.5)),
        ("judgments", good_judgment(votes={"A": "many"})),
        ("judgments", good_judgment(timings={"seconds": "slow"})),
        ("judgments", good_judgment(protocol="telepathy")),
        ("judgments", good_judgment(backend="x" * 500)),
        ("reviews", good_review(version=-1)),
        ("reviews", good_review(version=10**15)),
        ("reviews", good_review(version=True)),
        ("reviews", good_review(tags=[1, 2])),
        ("reviews", good_review(tags="a,b")),
        ("reviews", good_review(label="maybe")),
        ("reviews", good_review(reviewer="ana\u202eevil")),
        ("reviews", good_review(reviewer="")),
        ("reviews", good_review(updated_at="yesterday")),
        ("reviews", good_review(events=[{"action": "edit", "before": [], "after": {}}])),
        ("reviews", good_review(events=[{"action": "edit", "before": {"label": "A"}, "after": {"label": "B"}}])),
        (
            "reviews",
            good_review(
                events=[
                    {
                        "action": "edit",
                        "before": {"label": "zz", "rationale": None, "tags": [], "note": ""},
                        "after": {"label": "A", "rationale": None, "tags": [], "note": ""},
                    }
                ]
            ),
        ),
        ("reviews", good_review(events=[{**good_review()["events"][0], "target_index": 5}])),
    ],
)
def test_every_key_type_and_range_of_an_imported_judgment_or_review_is_checked(
    session: Any, tmp_path: Path, field: str, bad: dict[str, Any]
) -> None:
    path = write_jsonl(tmp_path / "dump.jsonl", [pair_row(1, **{field: [bad]}), pair_row(2)])
    report = import_files(session, [path], dataset="d", **LIMITS)
    assert report.imported == 1, report.errors
    assert [(e.row, e.field) for e in report.errors] == [(1, field)]
    session.commit()
    assert session.scalar(select(func.count()).select_from(Judgment)) == 0
    assert session.scalar(select(func.count()).select_from(Review)) == 0


def test_a_sound_dump_still_round_trips(session: Any, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dump.jsonl", [pair_row(1, judgments=[good_judgment()], reviews=[good_review()])])
    assert import_files(session, [path], dataset="d", **LIMITS).imported == 1
    session.commit()
    rows = export_rows(session, "d", "jsonl").rows
    again = write_jsonl(tmp_path / "again.jsonl", rows)
    assert import_files(session, [again], dataset="e", **LIMITS).imported == 1
    session.commit()
    assert export_rows(session, "e", "jsonl").rows[0]["reviews"][0]["events"] == rows[0]["reviews"][0]["events"]


# --- 2. no page broken by one row ---------------------------------------------------------------------


def damaged_store(db: Database) -> tuple[int, int]:
    """A dataset with one sound pair and one whose stored records are damaged (as an older studio, or
    a hand-edited database, could leave them): returns (sound pair id, damaged pair id)."""
    with db.session() as session:
        dataset = Dataset(name="d", source="")
        session.add(dataset)
        session.flush()
        pairs = [
            Pair(dataset_id=dataset.id, prompt=f"p{i}", response_a="a", response_b="b", content_hash=f"h{i}")
            for i in range(2)
        ]
        session.add_all(pairs)
        session.flush()
        bad = pairs[1]
        session.add(
            Judgment(
                pair_id=bad.id,
                model="m",
                backend="b",
                label="A",
                orders=[1, "x"],
                votes={"k": [], "A": "many"},
            )
        )
        review = Review(pair_id=bad.id, reviewer="ana", label="A", tags=[], note="", version=1)
        session.add(review)
        session.flush()
        session.add(ReviewEvent(review=review, action="edit", before=["not", "a", "state"], after={}, reviewer="ana"))
        return pairs[0].id, bad.id


def test_one_damaged_pair_breaks_no_page_undo_export_or_deletion(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    sound, bad = damaged_store(db)
    with db.session() as session:
        rows = rows_now(session, "d", [sound, bad], "ana")
        cells = queue_cells(rows, blind=False)
        assert [row[0] for row in cells] == [sound, bad]
        shown = pair_values(pair_detail(session, bad, "ana"), blind=False, images=False, viewer="ana")
        assert "cannot be shown" in shown[4]  # the verdict says so; the texts still show
        assert "p1" in shown[1]
        assert pair_values(pair_detail(session, sound, "ana"), blind=False, images=False)[1]
    with db.session() as session, pytest.raises(GramError, match="damaged record"):
        undo(session, bad, reviewer="ana")
    with db.session() as session:
        for fmt in ("dpo", "sft", "jsonl"):
            export_rows(session, "d", fmt)  # type: ignore[arg-type]
    ctx = ctx_of(settings, db)
    assert evaluate_page.evaluation_view(ctx, "d", "m")[0]  # the figures of the judge with the damaged record
    assert len(evaluate_page.compare_models(ctx, "d", ["m"])) == 1
    deleted = delete_dataset(db, "d", tmp_path / "deleted")
    assert deleted.pairs == 2 and len(deleted.kept_in.read_text().splitlines()) == 2


@pytest.mark.parametrize(("orders", "votes"), [(5, None), ({"order": "AB"}, [1, 2]), ("AB", "many")])
def test_a_judgment_whose_columns_hold_anything_is_shown_as_damaged_and_its_pair_still_shows(
    settings: Settings, db: Database, orders: Any, votes: Any
) -> None:
    with db.session() as session:
        dataset = Dataset(name="d", source="")
        session.add(dataset)
        session.flush()
        pair = Pair(dataset_id=dataset.id, prompt="the prompt", response_a="a", response_b="b", content_hash="h")
        pair.reference_label = "A"
        session.add(pair)
        session.flush()
        session.add(Judgment(pair_id=pair.id, model="m", backend="b", label="A", orders=orders, votes=votes))
        pair_id = pair.id
    with db.session() as session:
        shown = pair_values(pair_detail(session, pair_id, "ana"), blind=False, images=False, viewer="ana")
        assert "the prompt" in shown[1] and "cannot be shown" in shown[4]
    ctx = ctx_of(settings, db)
    assert "1" in evaluate_page.evaluation_view(ctx, "d", "m")[0]


# --- 3. paths resolved at every step -----------------------------------------------------------------


def test_a_folder_import_cannot_reach_outside_the_import_roots_through_a_link(tmp_path: Path) -> None:
    root, outside = tmp_path / "imports", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.jsonl").write_text(json.dumps(pair_row(1)) + "\n")
    folder = root / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps(pair_row(2)) + "\n")
    assert allowed_import_path("data", [root]) == folder.resolve()
    (folder / "test.jsonl").symlink_to(outside / "secret.jsonl")
    with pytest.raises(GramError) as refused:
        allowed_import_path("data", [root])
    assert str(refused.value) == NOT_ALLOWED
    (folder / "test.jsonl").unlink()
    (folder / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(GramError, match="GRAM_IMPORT_ROOTS"):
        allowed_import_path(str(folder), [root])
    (folder / "more").unlink()
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "../../private/x.arrow"}]}))
    with pytest.raises(GramError, match="GRAM_IMPORT_ROOTS"):
        allowed_import_path("data", [root])


def test_an_unreadable_file_is_named_without_echoing_its_content(tmp_path: Path) -> None:
    for name in ("secret.parquet", "secret.arrow"):
        path = tmp_path / name
        path.write_text("TOP-SECRET-TOKEN-1234 " * 50)
        with pytest.raises(InputFileError) as refused:
            parse_files([path], **LIMITS)
        assert "TOP-SECRET" not in str(refused.value) and name in str(refused.value)


# --- 4. names that stay distinct ---------------------------------------------------------------------


def test_exports_of_datasets_with_long_or_wide_names_get_files_of_their_own(session: Any, tmp_path: Path) -> None:
    names = ["x" * 150 + "one", "x" * 150 + "two", "数据集" * 60, "a b", "a?b"]
    for index, name in enumerate(names):
        import_files(session, [write_jsonl(tmp_path / f"{index}.jsonl", [pair_row(index)])], dataset=name, **LIMITS)
    session.commit()
    written = {export_to_folder(session, name, "dpo", tmp_path / "out")[0] for name in names for _ in range(2)}
    assert len(written) == 2 * len(names) and all(p.exists() and len(p.name.encode()) < 200 for p in written)


def test_look_alike_dataset_names_have_one_meaning(session: Any, tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "f.jsonl", [pair_row(1)])
    import_files(session, [file], dataset="demo", **LIMITS)
    other = write_jsonl(tmp_path / "g.jsonl", [pair_row(2)])
    assert import_files(session, [other], dataset="ｄｅｍｏ", **LIMITS).dataset == "demo"  # full width: NFKC
    assert get_dataset(session, "ｄｅｍｏ").name == "demo"
    with pytest.raises(ConfigError, match="scripts"):
        import_files(session, [other], dataset="dеmo", **LIMITS)  # a Cyrillic е among Latin letters
    with pytest.raises(ConfigError, match="scripts"):
        import_files(session, [other], dataset="dem\u03bf", **LIMITS)  # a Greek omicron at the end
    import_files(session, [other], dataset="poe", **LIMITS)
    import_files(session, [file], dataset="notes", **LIMITS)
    with pytest.raises(ConflictError, match="looks like"):
        rename_dataset(session, "notes", "\u0440\u043e\u0435")  # Cyrillic letters all: the look of "poe"
    session.commit()
    assert sorted(session.scalars(select(Dataset.name))) == ["demo", "notes", "poe"]


# --- 5. limits on what an import expands to ----------------------------------------------------------


def test_a_small_parquet_file_cannot_expand_past_the_import_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.parquet"
    big = "y" * 10_000
    table = pa.table({"prompt": ["q"] * 20_000, "response_a": [big] * 20_000, "response_b": ["b"] * 20_000})
    pq.write_table(table, path, compression="zstd")
    assert path.stat().st_size < 1 * 2**20  # small on disk, 200 MB of text
    with pytest.raises(InputFileError, match="expand"):
        parse_files([path], max_bytes=5 * 2**20, max_chars=200_000)


def test_a_small_file_of_many_tiny_rows_cannot_expand_past_the_import_limit(tmp_path: Path) -> None:
    path = tmp_path / "tiny.parquet"
    n = 200_000
    pq.write_table(pa.table({"prompt": ["q"] * n, "response_a": ["a"] * n, "response_b": ["b"] * n}), path)
    assert path.stat().st_size < 20_000  # 6 MB of text, a fifth of a GB of Python objects
    with pytest.raises(InputFileError, match="memory"):
        parse_files([path], max_bytes=50 * 2**20, max_chars=200_000)
    assert len(parse_files([path], max_bytes=400 * 2**20, max_chars=200_000).records) == n


def test_the_import_limit_bounds_all_its_files_together(tmp_path: Path) -> None:
    rows = [pair_row(i, response_a="z" * 1000) for i in range(2000)]  # about 3 MB in memory each
    files = [write_jsonl(tmp_path / f"{i}.jsonl", rows) for i in range(3)]
    assert len(parse_files(files[:1], max_bytes=5 * 2**20, max_chars=200_000).records) == 2000
    with pytest.raises(InputFileError, match="files before it count together"):
        parse_files(files, max_bytes=5 * 2**20, max_chars=200_000)


def test_a_ranking_row_with_too_many_responses_is_one_rejected_row(tmp_path: Path) -> None:
    many = {"prompt": "q", "responses": [f"r{i}" for i in range(300)], "scores": list(range(300))}
    rows = [many, {"prompt": "q", "responses": ["x", "y", "z"], "scores": [1, 2, 3]}]
    parsed = parse_files([write_jsonl(tmp_path / "rank.jsonl", rows)], format_name="ranking", **LIMITS)
    assert [e.row for e in parsed.errors] == [1] and "more than 100" in parsed.errors[0].reason


# --- 6. roles everywhere -----------------------------------------------------------------------------


def test_only_its_owner_or_an_admin_cancels_a_job(settings: Settings, db: Database) -> None:
    with db.session() as session:
        session.add(Dataset(name="d", source=""))
    ctx = ctx_of(settings, db)
    job_id, _ = create_or_find(db, JobKind.ADAPT, "k1", {}, None, owner="ana")
    with pytest.raises(PermissionDenied, match="cancel a job someone else started"):
        judge_page.cancel(ctx, JobKind.ADAPT, job_id, "ben")
    assert "Cancel" in judge_page.cancel(ctx, JobKind.ADAPT, job_id, "ana") or True
    with db.session() as session:
        assert session.get(Job, job_id).cancel_requested  # type: ignore[union-attr]
    other, _ = create_or_find(db, JobKind.ADAPT, "k2", {}, None)  # started at the command line
    with pytest.raises(PermissionDenied):
        judge_page.cancel(ctx, JobKind.ADAPT, other, "ana")
    judge_page.cancel(ctx, JobKind.ADAPT, other, "lead")
    with db.session() as session:
        job = session.get(Job, other)
        assert job is not None and (job.cancel_requested or job.status == JobStatus.CANCELLED)


def test_blind_review_and_reviewer_views_never_show_colleagues_labels(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    with db.session() as session:
        import_files(session, [write_jsonl(tmp_path / "f.jsonl", [pair_row(1)])], dataset="d", **LIMITS)
    with db.session() as session:
        pair_id = session.scalars(select(Pair.id)).one()
        save_review(session, pair_id, reviewer="ben", label="B", rationale="ben's secret reasoning")
    with db.session() as session:
        history = pair_values(pair_detail(session, pair_id, "ana"), blind=True, images=False, viewer="ana")[9]
        assert history == []  # ben's change would show his label
        seen = pair_values(pair_detail(session, pair_id, "ana"), blind=False, images=False, viewer="ana")[9]
        assert len(seen) == 1
    ctx = ctx_of(settings, db)
    with pytest.raises(PermissionDenied):
        adjudication_view(ctx, "d", pair_id, "ana")
    assert "ben" in adjudication_view(ctx, "d", pair_id, "lead")[0]
    path, note = datasets_page.run_export(ctx, "d", "jsonl", False, "ana")
    assert "ben" not in Path(path).read_text() and "your reviews only" in note
    path, _ = datasets_page.run_export(ctx, "d", "dpo", False, "ana")
    assert Path(path).read_text() == ""  # ben's label is his, not ana's
    path, _ = datasets_page.run_export(ctx, "d", "jsonl", False, "lead")
    assert "ben's secret reasoning" in Path(path).read_text()


# --- 7. messages are text ----------------------------------------------------------------------------


def test_a_toast_shows_a_name_as_text_never_as_html() -> None:
    def refuse() -> None:
        raise GramError("no dataset named '<img src=x onerror=alert(1)>'")

    with pytest.raises(gr.Error) as shown:
        shown_errors(refuse)()
    assert "<img" not in shown.value.message and "&lt;img" in shown.value.message


# --- 8. every bad input or setting is one line -------------------------------------------------------


def gram(args: list[str], home: Path, env: dict[str, str] | None = None, **options: Any) -> Any:
    environment = {**os.environ, "GRAM_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, **options
    )


def one_line(result: Any, *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, result.stderr)


def test_strange_rows_are_rejected_one_by_one(session: Any, tmp_path: Path) -> None:
    deep = {"x": None}
    for _ in range(200):
        deep = {"x": deep}
    lines = [
        json.dumps(pair_row(1, meta=deep)),
        json.dumps(pair_row(2, prompt="nul \u0000 inside")),
        '{"prompt": "q", "response_a": "a", "response_b": "b", "n": ' + "9" * 5000 + "}",
        '{"prompt": "q", "response_a": "a", "response_b": "b", "\\ud800": 1}',
        json.dumps(pair_row(5, score=float("nan"))),
    ]
    path = tmp_path / "strange.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_files(session, [path], dataset="d", **LIMITS)
    session.commit()
    assert report.imported == 1 and [e.row for e in report.errors] == [1, 2, 3, 4]
    assert export_rows(session, "d", "jsonl").rows[0]["meta"]["score"] is None


def test_unusual_parquet_column_types_import(session: Any, tmp_path: Path) -> None:
    import datetime
    import decimal

    table = pa.table(
        {
            "prompt": ["q1", "q2"],
            "response_a": ["a1", "a2"],
            "response_b": ["b1", "b2"],
            "when": pa.array([datetime.datetime(2024, 1, 1), None], pa.timestamp("us")),
            "price": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)),
            "raw": pa.array([b"text", b"\xff\xfe"], pa.binary()),
            "kv": pa.array([[("a", 1)], []], pa.map_(pa.string(), pa.int64())),
            "took": pa.array([datetime.timedelta(seconds=3), None], pa.duration("s")),
            "big": pa.array([2**64 - 1, 0], pa.uint64()),
        }
    )
    path = tmp_path / "types.parquet"
    pq.write_table(table, path)
    report = import_files(session, [path], dataset="d", **LIMITS)
    session.commit()
    assert report.imported == 1 and [(e.row, e.field) for e in report.errors] == [(2, "raw")]
    meta = export_rows(session, "d", "jsonl").rows[0]["meta"]
    assert meta["when"].startswith("2024-01-01") and meta["price"] == "1.50" and meta["kv"] == [["a", 1]]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"GRAM_HOME": ""}, ["GRAM_HOME", "empty"]),
        ({"GRAM_MAX_IMPORT_MB": "inf"}, ["GRAM_MAX_IMPORT_MB"]),
        ({"GRAM_MAX_IMPORT_MB": "1e300"}, ["GRAM_MAX_IMPORT_MB"]),
        ({"GRAM_MAX_FIELD_CHARS": "1" + "0" * 30}, ["GRAM_MAX_FIELD_CHARS"]),
        ({"GRAM_JOB_TIMEOUT_S": "nan"}, ["GRAM_JOB_TIMEOUT_S"]),
        ({"GRAM_DB_URL": "postgresql+pg8000://u@127.0.0.1/x"}, ["GRAM_DB_URL", "driver"]),
    ],
)
def test_a_bad_setting_is_one_line(tmp_path: Path, env: dict[str, str], words: list[str]) -> None:
    one_line(gram(["-m", "app.cli", "datasets"], tmp_path / "home", env), *words)


def test_a_database_url_that_cannot_be_a_store_is_refused_and_nothing_is_made_or_changed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a_file = tmp_path / "a-file"
    a_file.write_text("just text\n")
    missing = tmp_path / "no" / "such" / "folder"
    for url, word in (
        (f"sqlite:///{a_file}/gram.db", "not a folder"),
        (f"sqlite:///{a_file}", "not a usable database"),
        (f"sqlite:///{missing}/gram.db", "does not exist"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ):
        one_line(gram(["-m", "app.cli", "datasets"], home, {"GRAM_DB_URL": url}), "GRAM_DB_URL", word)
    assert a_file.read_text() == "just text\n" and not (tmp_path / "no").exists()
    one_line(gram(["-m", "app.cli", "--home", "", "datasets"], home), "--home")


def test_a_missing_model_adapter_or_bad_port_stops_launch_and_the_cli_before_any_model_loads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one_line(gram(["launch.py", "--port", "70000"], home), "--port", "70000")
    one_line(gram(["launch.py", "--model", str(tmp_path / "no-model")], home), "no such model folder")
    assert gram(["-m", "app.cli", "demo"], home).returncode == 0
    result = gram(["-m", "app.cli", "judge", "demo", "--fast", "--adapter", str(tmp_path / "none")], home)
    one_line(result, "--adapter", "no such adapter folder")
    assert not (home / "models").exists()  # refused before the embedded model was converted


def test_a_full_disk_is_one_line_and_the_store_is_unchanged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert gram(["-m", "app.cli", "datasets"], home).returncode == 0  # migrated, with its log
    big = write_jsonl(tmp_path / "big.jsonl", [pair_row(i, response_a="z" * 2000 + str(i)) for i in range(3000)])
    limit = sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) + 256 * 1024

    def small_disk() -> None:  # writes past `limit` bytes fail (EFBIG) as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = gram(["-m", "app.cli", "import", str(big), "--dataset", "big"], home, preexec_fn=small_disk)
    one_line(result)
    listed = gram(["-m", "app.cli", "datasets"], home)
    assert listed.returncode == 0 and "big" not in listed.stdout


def test_a_restart_right_after_a_crash_binds_its_port_again() -> None:
    from launch import _port_is_free

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the studio's server binds
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its port stays in TIME_WAIT
        client.close()
    _port_is_free("127.0.0.1", port)  # refused before SO_REUSEADDR
