"""Read input files into numbered rows (plain dicts), without interpreting them.

A problem with the whole file (unreadable, unparseable, too large) raises InputFileError before
anything is stored. A problem with one row (bad JSON on a line, bytes that are not UTF-8) is
returned as that row's error so the other rows still import.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputFileError

FILE_KINDS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
TOO_DEEP = "a value nested too deeply to read (a list or object inside itself thousands of times)"
# Keys under which a JSON object file keeps its list of rows (BIG-bench uses "examples").
JSON_ROW_KEYS = ("examples", "data", "rows", "train", "test", "validation")


@dataclass
class RawRow:
    row: int  # 1-based: the line in JSONL, the element in JSON, the data row in CSV/Parquet
    data: dict[str, Any] | None
    error: str | None = None
    error_field: str | None = None
    file_meta: dict[str, Any] = field(default_factory=dict)
    # A CSV cell's own text where it was read as JSON: a format that wants text gets it back.
    text_cells: dict[str, str] = field(default_factory=dict)


def read_rows(path: Path, max_bytes: int) -> list[RawRow]:
    """All rows of `path` (a file, or a Hugging Face `datasets` folder)."""
    if not path.exists():
        raise InputFileError(str(path), "no such file or folder")
    if path.is_dir():
        return _read_hf_folder(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputFileError(
            str(path),
            f"file is {size / 2**20:.1f} MiB, over the import limit of {max_bytes / 2**20:.0f} "
            "MiB (raise GRAM_MAX_IMPORT_MB, or split the file)",
        )
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            str(path),
            f"unknown file type '{path.suffix}' (use one of {', '.join(sorted(FILE_KINDS))}, or a datasets folder)",
        )
    reader = {
        "jsonl": _read_jsonl,
        "json": _read_json,
        "csv": _read_csv,
        "tsv": _read_csv,
        "parquet": _read_parquet,
        "arrow": _read_arrow,
    }[kind]
    rows = reader(path)
    for raw in rows:
        if raw.data is not None and raw.error is None:
            found = _bad_text(raw.data)
            if found is not None:
                raw.error_field, raw.error = found
    return rows


def _decode(data: bytes) -> str:
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row can be
    # reported (with its field) while the rest of the file decodes normally.
    return data.decode("utf-8-sig", errors="surrogateescape")


def _bad_text(value: Any) -> tuple[str, str] | None:
    """(field, reason) for the first text in a row that cannot be stored: bytes that were not UTF-8
    (kept as surrogates by `_decode`), or a lone surrogate written as a JSON escape ("\\ud800").
    Walked with a stack, not recursion, so a deeply nested value cannot overflow it."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            for ch in item:
                if "\udc80" <= ch <= "\udcff":
                    return path or "(row)", "not valid UTF-8 text"
                if "\ud800" <= ch <= "\udfff":
                    return path or "(row)", f"contains an unpaired surrogate (U+{ord(ch):04X}), which is not text"
        elif isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path else str(key), sub) for key, sub in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", sub) for index, sub in reversed(list(enumerate(item))))
    return None


def _read_jsonl(path: Path) -> list[RawRow]:
    rows: list[RawRow] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            text = _decode(line).strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                rows.append(RawRow(number, None, f"invalid JSON ({error.msg} at column {error.colno})"))
                continue
            except RecursionError:
                rows.append(RawRow(number, None, TOO_DEEP))
                continue
            if not isinstance(data, dict):
                rows.append(RawRow(number, None, f"expected a JSON object, got {type(data).__name__}"))
                continue
            rows.append(RawRow(number, data))
    return rows


def _read_json(path: Path) -> list[RawRow]:
    try:
        document = json.loads(_decode(path.read_bytes()))
    except json.JSONDecodeError as error:
        raise InputFileError(
            str(path), f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except RecursionError:
        raise InputFileError(str(path), TOO_DEEP) from None
    file_meta: dict[str, Any] = {}
    if isinstance(document, dict):
        if "canary" in document:  # BIG-bench marks its tasks as evaluation-only
            file_meta["canary"] = document["canary"]
        lists = [k for k in JSON_ROW_KEYS if isinstance(document.get(k), list)]
        if not lists:
            raise InputFileError(
                str(path),
                "a JSON object file must hold its rows as a list under one of "
                f"{', '.join(JSON_ROW_KEYS)} (or use a JSON list, or JSONL)",
            )
        document = document[lists[0]]
    if not isinstance(document, list):
        raise InputFileError(str(path), "expected a JSON list of objects")
    rows = []
    for number, item in enumerate(document, start=1):
        if isinstance(item, dict):
            rows.append(RawRow(number, item, file_meta=file_meta))
        else:
            rows.append(RawRow(number, None, f"expected a JSON object, got {type(item).__name__}"))
    return rows


def _read_csv(path: Path) -> list[RawRow]:
    text = _decode(path.read_bytes())
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    # CSV fields can be huge (whole responses); lift the module's 128 KiB default.
    csv.field_size_limit(2**31 - 1)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        rows = []
        for number, record in enumerate(reader, start=1):
            if None in record:  # more cells than header columns
                rows.append(RawRow(number, None, "row has more cells than the header"))
                continue
            # A CSV cell holding JSON (a list of messages, a list of responses) is decoded.
            data = {k: _maybe_json(v) for k, v in record.items()}
            texts = {k: v for k, v in record.items() if isinstance(v, str) and data[k] is not v}
            rows.append(RawRow(number, data, text_cells=texts))
    except csv.Error as error:
        raise InputFileError(str(path), f"not valid CSV: {error}") from None
    if reader.fieldnames is None:
        raise InputFileError(str(path), "empty CSV file (no header row)")
    return rows


def _maybe_json(value: str | None) -> Any:
    if value is None:
        return None
    stripped = value.strip()
    if stripped[:1] in "[{" and stripped[-1:] in "]}":
        try:
            return json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):
            pass
    return value


def _read_parquet(path: Path) -> list[RawRow]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for corrupt files
        raise InputFileError(str(path), f"not a readable Parquet file: {error}") from None
    return [RawRow(n, row) for n, row in enumerate(table.to_pylist(), start=1)]


def _read_arrow(path: Path) -> list[RawRow]:
    import datasets

    try:
        dataset = datasets.Dataset.from_file(str(path))
    except Exception as error:
        raise InputFileError(str(path), f"not a readable Arrow file: {error}") from None
    return [RawRow(n, row) for n, row in enumerate(dataset, start=1)]


def _read_hf_folder(path: Path) -> list[RawRow]:
    """A folder written by `Dataset.save_to_disk`, or one holding a dataset's data files."""
    import datasets

    saved = any((path / name).exists() for name in ("state.json", "dataset_dict.json"))
    try:
        loaded = datasets.load_from_disk(str(path)) if saved else datasets.load_dataset(str(path))
    except Exception as error:
        raise InputFileError(str(path), f"not a readable datasets folder: {error}") from None
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    rows, number = [], 0
    for split, dataset in splits:
        for item in dataset:
            number += 1
            rows.append(RawRow(number, item, file_meta={"split": split} if split else {}))
    return rows
