"""Read input files into numbered rows (plain dicts), without interpreting them.

A problem with the whole file (unreadable, unparseable, too large) raises InputFileError before
anything is stored. A problem with one row (bad JSON on a line, bytes that are not UTF-8) is
returned as that row's error so the other rows still import.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator
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
log = logging.getLogger(__name__)
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
    cost: int = 0  # bytes of memory the row takes once read (set by read_rows)


# What a row costs beyond the objects of its values: its RawRow, and the record and pair it becomes
# (measured: a million one-letter rows took about 1 GB). Without it a small file of many tiny rows
# would pass a budget that counts only their text.
ROW_COST = 600
MAX_DEPTH = 64  # lists and objects inside one another: real data nests a few levels


def read_rows(path: Path, max_bytes: int, budget: int | None = None) -> list[RawRow]:
    """All rows of `path` (a file, or a Hugging Face `datasets` folder). `max_bytes` bounds the file;
    `budget` (default `max_bytes`) bounds the memory its rows take once read, objects and all (a
    small compressed Parquet file can hold gigabytes of text, or millions of tiny rows): reading
    stops with an InputFileError once they pass it. Each row's `cost` says what it took."""
    budget = max_bytes if budget is None else budget
    if not path.exists():
        raise InputFileError(str(path), "no such file or folder")
    if path.is_dir():
        return _checked_rows(path, _read_hf_folder(path, max_bytes), budget, max_bytes)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputFileError(str(path), f"file is {size / 2**20:.1f} MiB, {_over(max_bytes)}")
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
        "parquet": lambda p: _read_parquet(p, max_bytes),
        "arrow": _read_arrow,
    }[kind]
    return _checked_rows(path, reader(path), budget, max_bytes)


def _over(max_bytes: int) -> str:
    return f"over the import limit of {max_bytes / 2**20:.0f} MiB (raise GRAM_MAX_IMPORT_MB, or split the file)"


def _checked_rows(path: Path, rows: Iterable[RawRow], budget: int, limit: int) -> list[RawRow]:
    """The rows, each checked for what no store can keep, while the memory they take stays within `budget`."""
    kept, spent = [], 0
    for raw in rows:
        raw.cost = ROW_COST
        if raw.data is not None and raw.error is None:
            size, found = _row_problem(raw.data)
            raw.cost += size
            if found is not None:
                raw.error_field, raw.error = found
                raw.data = None
        spent += raw.cost
        if spent > budget:
            raise InputFileError(
                str(path),
                f"its rows expand to more than {limit / 2**20:.0f} MiB of memory once read (at row {raw.row}; "
                f"a file's rows and the files before it count together), {_over(limit)}",
            )
        kept.append(raw)
    return kept


def _decode(data: bytes) -> str:
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row can be
    # reported (with its field) while the rest of the file decodes normally.
    return data.decode("utf-8-sig", errors="surrogateescape")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character, which a database cannot store"
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            return "not valid UTF-8 text"
        if "\ud800" <= ch <= "\udfff":
            return f"contains an unpaired surrogate (U+{ord(ch):04X}), which is not text"
    return None


def _row_problem(value: dict[str, Any]) -> tuple[int, tuple[str, str] | None]:
    """(bytes of memory the row's values and keys take, (field, reason) for the first thing in it that cannot be
    stored): bytes that were not UTF-8 (kept as surrogates by `_decode`), a lone surrogate written
    as a JSON escape ("\\ud800"), a NUL, in a value or a key; a value nested over MAX_DEPTH deep; a
    value no JSON column takes. Walked with a stack, not recursion, so nothing can overflow it.
    Values are made storable in place (a date as ISO text, NaN as null)."""
    size = 0
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        where = path or "(row)"
        if depth > MAX_DEPTH:
            return size, (where, f"nested more than {MAX_DEPTH} levels deep")
        size += sys.getsizeof(item)
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return size, (where, problem)
        elif isinstance(item, dict):
            for key in list(item):
                if not isinstance(key, str):
                    item[str(key)] = item.pop(key)
                    key = str(key)
                problem = _text_problem(key)
                if problem:
                    return size, (f"{path}.(a key)" if path else "(a column name)", problem)
                size += sys.getsizeof(key)
                sub = item[key]
                if not _plain(sub):
                    try:
                        item[key] = sub = _storable(sub)
                    except ValueError as error:
                        return size, (f"{path}.{key}" if path else key, str(error))
                stack.append((f"{path}.{key}" if path else key, sub, depth + 1))
        elif isinstance(item, list):
            for index, sub in enumerate(item):
                if not _plain(sub):
                    try:
                        item[index] = sub = _storable(sub)
                    except ValueError as error:
                        return size, (f"{path}[{index}]", str(error))
                stack.append((f"{path}[{index}]", sub, depth + 1))
    return size, None


def _plain(value: Any) -> bool:
    """A value a JSON column keeps as it is."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | bool | int | dict | list)


def _storable(value: Any) -> Any:
    """A value of another type (Parquet's dates, decimals, bytes, maps; NaN) as JSON can hold it."""
    if isinstance(value, float):  # NaN or infinite: JSON has no such number (pandas writes null)
        return None
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("binary data, not text") from None
    if isinstance(value, tuple):
        return list(value)
    raise ValueError(f"a value of type {type(value).__name__}, which cannot be stored")


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
            except ValueError as error:  # an integer of thousands of digits
                rows.append(RawRow(number, None, f"unreadable number ({str(error).split(':')[0]})"))
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
    except ValueError as error:  # an integer of thousands of digits
        raise InputFileError(str(path), f"unreadable number ({str(error).split(':')[0]})") from None
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
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            pass
    return value


PARQUET_BATCH = 256  # rows read at once: what one batch can expand to stays small


def _unreadable(path: Path, what: str, error: Exception) -> InputFileError:
    """A file a library could not read. Its message can quote the file, so only its type is shown;
    the log has the whole of it."""
    log.warning("%s: not a readable %s: %s", path, what, error)
    return InputFileError(str(path), f"not a readable {what} ({type(error).__name__}; the log has the details)")


def _read_parquet(path: Path, max_bytes: int) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
    except Exception as error:  # pyarrow raises several types for corrupt files
        raise _unreadable(path, "Parquet file", error) from None
    expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if expanded > max_bytes:
        raise InputFileError(str(path), f"its data expands to {expanded / 2**20:.0f} MiB, {_over(max_bytes)}")
    return _parquet_rows(path, parquet)


def _parquet_rows(path: Path, parquet: Any) -> Iterator[RawRow]:
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
            for row in batch.to_pylist():
                number += 1
                yield RawRow(number, row)
    except InputFileError:
        raise
    except Exception as error:
        raise _unreadable(path, "Parquet file", error) from None


def _read_arrow(path: Path) -> Iterator[RawRow]:
    import datasets

    try:
        dataset = datasets.Dataset.from_file(str(path))
    except Exception as error:
        raise _unreadable(path, "Arrow file", error) from None
    return (RawRow(n, row) for n, row in enumerate(dataset, start=1))


def folder_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def _read_hf_folder(path: Path, max_bytes: int) -> Iterator[RawRow]:
    """A folder written by `Dataset.save_to_disk`, or one holding a dataset's data files (read as a
    stream: nothing is converted into a cache first, so the text budget bounds what it takes)."""
    import datasets

    size = folder_size(path)
    if size > max_bytes:
        raise InputFileError(str(path), f"the folder holds {size / 2**20:.1f} MiB, {_over(max_bytes)}")
    saved = any((path / name).exists() for name in ("state.json", "dataset_dict.json"))
    try:
        loaded = datasets.load_from_disk(str(path)) if saved else datasets.load_dataset(str(path), streaming=True)
    except Exception as error:
        raise _unreadable(path, "datasets folder", error) from None
    splits = (
        loaded.items() if isinstance(loaded, datasets.DatasetDict | datasets.IterableDatasetDict) else [(None, loaded)]
    )

    def rows() -> Iterator[RawRow]:
        number = 0
        try:
            for split, dataset in splits:
                for item in dataset:
                    number += 1
                    yield RawRow(number, dict(item), file_meta={"split": split} if split else {})
        except InputFileError:
            raise
        except Exception as error:
            raise _unreadable(path, "datasets folder", error) from None

    return rows()
