"""Importing: every recognised format on a real sample, every file type, bad input, duplicates."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.data.demo import demo_paths
from core.data.importer import ImportReport, import_files
from core.errors import GramError, InputFileError
from storage.tables import Dataset, Pair
from tests.conftest import FIXTURES

LIMITS = {"max_bytes": 2**30, "max_chars": 200_000}


def run_import(session: Session, *paths: Path, **options: Any) -> ImportReport:
    report = import_files(session, list(paths), **{**LIMITS, **options})
    session.commit()
    return report


def stored(session: Session, dataset: str) -> list[Pair]:
    query = select(Pair).join(Dataset).where(Dataset.name == dataset).order_by(Pair.id)
    return list(session.scalars(query))


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def demo_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in demo_paths()[0].read_text().splitlines()]


# --- formats, each on real data --------------------------------------------------------------


def test_pairwise_jsonl_keeps_every_field(session: Session) -> None:
    report = run_import(session, demo_paths()[0], dataset="d")
    rows = demo_rows()
    assert report.imported == len(rows) == 100
    assert report.files[0].format == "pairwise"
    pairs = stored(session, "d")
    first = pairs[0]
    assert (first.prompt, first.response_a, first.response_b) == (
        rows[0]["prompt"],
        rows[0]["response_a"],
        rows[0]["response_b"],
    )
    assert first.reference_label == rows[0]["label"]
    assert first.external_id == rows[0]["id"] and first.source == rows[0]["source"]
    assert first.meta == rows[0]["meta"]
    assert Counter(p.reference_label for p in pairs) == Counter(r["label"] for r in rows)


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("trl_standard.jsonl", "trl-preference"),
        ("trl_conversational.jsonl", "trl-preference"),
        ("trl_implicit_conversational.jsonl", "trl-implicit"),
    ],
)
def test_trl_preference_forms_give_the_chosen_response_as_the_label(session: Session, name: str, fmt: str) -> None:
    path = FIXTURES / name
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    report = run_import(session, path, dataset="d")
    assert report.files[0].format == fmt
    assert report.imported == len(rows) and not report.errors
    pairs = stored(session, "d")
    for row, pair in zip(rows, pairs, strict=True):
        chosen = row["chosen"] if isinstance(row["chosen"], str) else row["chosen"][-1]["content"]
        rejected = row["rejected"] if isinstance(row["rejected"], str) else row["rejected"][-1]["content"]
        winner, loser = (pair.response_a, pair.response_b)[:: 1 if pair.reference_label == "A" else -1]
        assert (winner, loser) == (chosen, rejected)
        prompt = row.get("prompt") or row["chosen"][0]["content"]
        assert pair.prompt == (prompt if isinstance(prompt, str) else prompt[0]["content"])
    # The chosen response is placed at A or B by a stable coin, so both positions occur.
    assert {p.reference_label for p in pairs} == {"A", "B"}


def test_anthropic_hh_transcripts_split_into_conversation_and_last_replies(session: Session) -> None:
    path = FIXTURES / "hh_transcripts.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    report = run_import(session, path, dataset="hh")
    assert report.files[0].format == "trl-implicit"
    assert report.imported == len(rows) == 20 and not report.errors
    for row, pair in zip(rows, stored(session, "hh"), strict=True):
        assert pair.conversation is not None and len(pair.conversation) >= 3
        assert pair.conversation[0]["role"] == "user" and pair.conversation[-1]["role"] == "user"
        assert [m["role"] for m in pair.conversation[1::2]] == ["assistant"] * (len(pair.conversation) // 2)
        chosen = row["chosen"].rsplit("\n\nAssistant:", 1)[1].strip()
        assert chosen == (pair.response_a if pair.reference_label == "A" else pair.response_b)
        assert pair.prompt.startswith("User: ") and "\n\nAssistant: " in pair.prompt


def test_rankings_expand_into_every_pair_with_ties(session: Session) -> None:
    path = FIXTURES / "ranking.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    report = run_import(session, path, dataset="r")
    expected = sum(len(r["responses"]) * (len(r["responses"]) - 1) // 2 for r in rows)
    assert report.files[0].format == "ranking"
    assert report.imported == expected
    scores = {(r["prompt"], t): s for r in rows for t, s in zip(r["responses"], r["scores"], strict=True)}
    pairs = stored(session, "r")
    for pair in pairs:
        score_a, score_b = scores[(pair.prompt, pair.response_a)], scores[(pair.prompt, pair.response_b)]
        assert pair.reference_label == ("tie" if score_a == score_b else "A" if score_a > score_b else "B")
    assert {"A", "B", "tie"} <= {p.reference_label for p in pairs}


def test_ranks_where_one_is_best(session: Session, tmp_path: Path) -> None:
    row = demo_rows()[0]
    texts = [row["response_a"], row["response_b"], "A third, short answer."]
    path = write_jsonl(tmp_path / "ranks.jsonl", [{"prompt": row["prompt"], "responses": texts, "ranks": [2, 1, 3]}])
    run_import(session, path, dataset="r")
    best = {p.response_a if p.reference_label == "A" else p.response_b for p in stored(session, "r")}
    assert best == {texts[1], texts[0]}  # texts[1] wins both of its pairs, texts[0] beats texts[2]


def test_column_mapping_overrides_detection(session: Session, tmp_path: Path) -> None:
    rows = [
        {"question": r["prompt"], "answer1": r["response_a"], "answer2": r["response_b"], "winner": r["label"]}
        for r in demo_rows()[:10]
    ]
    path = write_jsonl(tmp_path / "custom.jsonl", rows)
    with pytest.raises(InputFileError, match="cannot recognise the format"):
        run_import(session, path, dataset="m")
    mapping = {"prompt": "question", "response_a": "answer1", "response_b": "answer2", "label": "winner"}
    report = run_import(session, path, dataset="m", mapping=mapping)
    assert report.imported == 10
    assert [p.reference_label for p in stored(session, "m")] == [r["winner"] for r in rows]
    with pytest.raises(InputFileError, match="'nope'"):
        run_import(session, path, dataset="m", mapping={"prompt": "nope"})


# --- file types -------------------------------------------------------------------------------


def _pairwise_table() -> list[dict[str, Any]]:
    return [
        {"prompt": r["prompt"], "response_a": r["response_a"], "response_b": r["response_b"], "label": r["label"]}
        for r in demo_rows()[:30]
    ]


def test_csv_parquet_arrow_json_and_datasets_folders(session: Session, tmp_path: Path) -> None:
    import datasets
    import pandas as pd

    table = _pairwise_table()
    frame = pd.DataFrame(table)
    frame.to_csv(tmp_path / "pairs.csv", index=False)  # responses hold newlines and quotes
    frame.to_parquet(tmp_path / "pairs.parquet")
    (tmp_path / "pairs.json").write_text(json.dumps(table))
    hf = datasets.Dataset.from_list(table)
    hf.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": hf.select(range(20)), "test": hf.select(range(20, 30))}).save_to_disk(
        str(tmp_path / "saved_dict")
    )
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    for name, path in [
        ("csv", tmp_path / "pairs.csv"),
        ("parquet", tmp_path / "pairs.parquet"),
        ("json", tmp_path / "pairs.json"),
        ("saved", tmp_path / "saved"),
        ("saved_dict", tmp_path / "saved_dict"),
        ("arrow", arrow),
    ]:
        report = run_import(session, path, dataset=name)
        assert report.imported == 30 and not report.errors, name
        got = [(p.prompt, p.response_a, p.response_b, p.reference_label) for p in stored(session, name)]
        assert sorted(got) == sorted(tuple(r.values()) for r in table), name


def test_several_files_into_one_dataset(session: Session) -> None:
    report = run_import(session, *demo_paths(), dataset="demo")
    assert report.imported == 400
    assert report.labels == {"A": 157, "B": 185, "tie": 58}


# --- bad input ---------------------------------------------------------------------------------


def test_malformed_rows_are_reported_and_valid_rows_kept(session: Session, tmp_path: Path) -> None:
    good = _pairwise_table()[:5]
    lines = [json.dumps(good[0]).encode()]
    lines.append(b'{"prompt": "unterminated", "response_a": ')  # 2: bad JSON
    lines.append(json.dumps(good[1]).encode())
    lines.append(json.dumps({k: v for k, v in good[2].items() if k != "response_b"}).encode())  # 4: missing
    lines.append(json.dumps({**good[3], "response_a": "   "}).encode())  # 5: empty response
    lines.append(json.dumps({**good[4], "label": "C"}).encode())  # 6: wrong label
    lines.append(json.dumps({**good[4], "response_a": "caf\u00e9 ok"}).encode().replace(b"caf\\u00e9", b"caf\xe9"))
    lines.append(json.dumps(good[4]).encode())  # 8: good
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = run_import(session, path, dataset="messy")

    assert report.imported == 3
    rejected = {e.row: e for e in report.errors}
    assert sorted(rejected) == [2, 4, 5, 6, 7]
    assert "invalid JSON" in rejected[2].reason
    assert (rejected[4].field, rejected[4].reason) == ("response_b", "missing")
    assert rejected[5].field == "response_a" and "empty response" in rejected[5].reason
    assert rejected[6].field == "label" and "'C'" in rejected[6].reason
    assert rejected[7].field == "response_a" and "UTF-8" in rejected[7].reason
    assert all(str(e).startswith(f"{path}: row {e.row}") for e in report.errors)

    again = run_import(session, path, dataset="messy")
    assert (again.imported, again.duplicates) == (0, 3)
    assert len(stored(session, "messy")) == 3


def test_empty_responses_can_be_kept_on_request(session: Session, tmp_path: Path) -> None:
    row = {**_pairwise_table()[0], "response_b": ""}
    path = write_jsonl(tmp_path / "empty.jsonl", [row])
    assert run_import(session, path, dataset="e").imported == 0
    assert run_import(session, path, dataset="e", allow_empty=True).imported == 1


def test_a_file_that_cannot_be_parsed_changes_nothing(session: Session, tmp_path: Path) -> None:
    run_import(session, demo_paths()[0], dataset="keep")
    before = session.scalar(select(func.count(Pair.id)))
    broken = tmp_path / "broken.json"
    broken.write_text('[{"prompt": "p", "response_a": "a", "response_b": "b"}, {"prompt": ')
    with pytest.raises(InputFileError, match="not valid JSON"):
        # The good file comes first: it must not be stored either.
        run_import(session, demo_paths()[1], broken, dataset="keep")
    session.rollback()
    assert session.scalar(select(func.count(Pair.id))) == before
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputFileError, match="Parquet"):
        run_import(session, corrupt, dataset="new")
    assert session.scalar(select(Dataset).where(Dataset.name == "new")) is None


def test_a_file_with_no_valid_rows_creates_no_dataset(session: Session, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{**_pairwise_table()[0], "label": "both"}])
    report = run_import(session, path, dataset="nothing")
    assert report.imported == 0 and len(report.errors) == 1
    assert session.scalar(select(Dataset).where(Dataset.name == "nothing")) is None


def test_oversized_files_and_fields_get_a_clear_message(session: Session, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", _pairwise_table())
    with pytest.raises(InputFileError, match="over the import limit"):
        import_files(session, [path], dataset="big", max_bytes=1000, max_chars=200_000)
    report = import_files(session, [path], dataset="big", max_bytes=2**30, max_chars=300)
    long_rows = [r for r in _pairwise_table() if max(len(v) for v in r.values() if v) > 300]
    assert len(report.errors) == len(long_rows) > 0
    assert all("over the limit of 300" in e.reason for e in report.errors)


def test_unknown_types_and_missing_files_are_clear_errors(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        run_import(session, tmp_path / "missing.jsonl")
    (tmp_path / "pairs.xlsx").write_bytes(b"x")
    with pytest.raises(InputFileError, match="unknown file type"):
        run_import(session, tmp_path / "pairs.xlsx")
    with pytest.raises(GramError, match="unknown format"):
        run_import(session, demo_paths()[0], format_name="nonsense")


def test_hostile_rows_are_row_errors_and_the_good_rows_around_them_are_kept(session: Session, tmp_path: Path) -> None:
    """A value nested 100,000 deep, a lone surrogate, doctored dump fields: each a row error with its
    row and field; the valid rows on either side are stored."""
    good = demo_rows()[:2]
    deep = '{"prompt": "p", "response_a": "a", "response_b": "b", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    dump_row = {
        "prompt": "p2",
        "response_a": "a2",
        "response_b": "b2",
        "label": "A",
        "judgments": [
            {
                "model": "m",
                "backend": "transformers",
                "label": "A",
                "confidence": 0.9,
                "created_at": "2026-01-01T00:00:00",
            }
        ],
        "review": {"label": "A", "tags": ["ok"], "version": 1, "events": []},
    }

    def doctored(change: str) -> str:
        row = json.loads(json.dumps(dump_row))
        if change == "date":
            row["judgments"][0]["created_at"] = "not a date"
        elif change == "confidence":
            row["judgments"][0]["confidence"] = "high"
        elif change == "tags":
            row["review"]["tags"] = [1, {"x": 1}]
        elif change == "event":
            row["review"]["events"] = [{"action": "edit", "before": {}, "after": {}, "created_at": "yesterday"}]
        return json.dumps(row)

    lines = [
        json.dumps(good[0]),
        deep,
        '{"prompt": "\\ud800", "response_a": "a", "response_b": "b"}',
        doctored("date"),
        doctored("confidence"),
        doctored("tags"),
        doctored("event"),
        json.dumps(good[1]),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_import(session, path, dataset="hostile")
    assert report.imported == 2
    where = {error.row: (error.field, error.reason) for error in report.errors}
    assert set(where) == {2, 3, 4, 5, 6, 7}, report.errors
    assert "nested" in where[2][1]
    assert where[3][0] == "prompt" and "surrogate" in where[3][1]
    assert [where[n][0] for n in (4, 5, 6, 7)] == ["judgments", "judgments", "reviews", "reviews"]


def test_a_json_document_nested_too_deeply_is_refused_in_one_line(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputFileError, match="nested"):
        run_import(session, path)


def test_an_import_that_keeps_no_row_fails(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app.cli import cli

    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "response_a": "", "response_b": "b"}])
    result = CliRunner().invoke(cli, ["import", str(path)])
    assert result.exit_code == 1 and "no pair" in result.output


def test_csv_cells_that_look_like_json_stay_text_where_text_is_expected(session: Session, tmp_path: Path) -> None:
    """A response '[1, 2, 3]' in a CSV is text (a CSV cell holds text); JSON in a cell is read only
    where a format wants a structure (TRL messages)."""
    import csv

    path = tmp_path / "jsonish.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "response_a", "response_b", "label"])
        writer.writerow(['["not", "messages"]', "[1, 2, 3]", '{"a": 1}', "A"])
    report = run_import(session, path, dataset="jsonish")
    assert (report.imported, report.errors) == (1, [])
    pair = stored(session, "jsonish")[0]
    assert (pair.prompt, pair.response_a, pair.response_b) == ('["not", "messages"]', "[1, 2, 3]", '{"a": 1}')
    conversational = tmp_path / "trl.csv"
    with conversational.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "chosen", "rejected"])
        writer.writerow(
            [
                json.dumps([{"role": "user", "content": "Hi?"}]),
                json.dumps([{"role": "assistant", "content": "Hello!"}]),
                json.dumps([{"role": "assistant", "content": "Go away."}]),
            ]
        )
    assert run_import(session, conversational, dataset="trl-csv").imported == 1
    assert stored(session, "trl-csv")[0].prompt == "Hi?"


def test_a_datasets_guidelines_are_kept_and_bounded(session: Session) -> None:
    from core.data.datasets import MAX_GUIDELINES, get_dataset, set_guidelines

    session.add(Dataset(name="g"))
    session.flush()
    set_guidelines(session, "g", "  ## How to judge\n\nPrefer the answer that cites a number.  ")
    assert get_dataset(session, "g").guidelines == "## How to judge\n\nPrefer the answer that cites a number."
    with pytest.raises(GramError, match="at most"):
        set_guidelines(session, "g", "x" * (MAX_GUIDELINES + 1))
    with pytest.raises(GramError, match="no dataset named 'nope'"):
        set_guidelines(session, "nope", "text")
