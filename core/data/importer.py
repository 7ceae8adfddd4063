"""Import preference data into a dataset: read, recognise, convert, de-duplicate, store.

Every file is read and converted before the database is touched, so a file that cannot be
parsed changes nothing. Rows that cannot be used are reported (file, row, field, reason) and the
valid rows are kept. A pair already in the dataset (same content hash) is counted, not added.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.datasets import check_dataset_name, check_distinct
from core.data.dump import restore_judgment, restore_review
from core.data.fields import RowContext
from core.data.formats import FORMATS_BY_NAME, Format, detect
from core.data.pair_record import PairRecord, RowError, RowRejected
from core.data.paths import file_in
from core.data.readers import RawRow, read_rows
from core.errors import OPTIONS, ConfigError, GramError, InputFileError, PermissionDenied
from storage.tables import Dataset, Pair

log = logging.getLogger(__name__)

DETECTION_SAMPLE = 200  # rows whose columns decide the format


@dataclass
class FileReport:
    path: str
    format: str
    rows: int
    pairs: int  # pairs converted (rankings give several per row)


@dataclass
class ParsedFiles:
    records: list[PairRecord]
    files: list[FileReport]
    errors: list[RowError]


@dataclass
class ImportReport:
    dataset: str
    files: list[FileReport]
    imported: int
    duplicates: int
    errors: list[RowError]
    labels: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(self.labels.items()))
        return (
            f"dataset '{self.dataset}': imported {self.imported} pairs ({labels or 'no labels'}), "
            f"{self.duplicates} already present, {len(self.errors)} rows rejected"
        )


def parse_files(
    paths: Sequence[Path],
    *,
    mapping: dict[str, str] | None = None,
    format_name: str | None = None,
    allow_empty: bool = False,
    max_bytes: int,
    max_chars: int,
) -> ParsedFiles:
    """Read and convert `paths`; raises InputFileError if any file is unusable as a whole."""
    result = ParsedFiles([], [], [])
    expanded = 0  # characters of the converted pairs' texts: rankings repeat each response
    held = 0  # memory the files' rows take: the limit bounds all the files together
    for path in paths:
        rows = read_rows(path, max_bytes, budget=max_bytes - held)
        held += sum(raw.cost for raw in rows)
        if mapping:
            _apply_mapping(path, rows, mapping)
        fmt = _choose_format(path, rows, format_name)
        ctx = RowContext(source=path.stem, max_chars=max_chars, allow_empty=allow_empty)
        converted = 0
        for raw in rows:
            if raw.error is not None or raw.data is None:
                result.errors.append(RowError(str(path), raw.row, raw.error_field, raw.error or "unreadable row"))
                continue
            row_ctx = RowContext(
                ctx.source, ctx.max_chars, ctx.allow_empty, raw.file_meta or None, raw.text_cells or None
            )
            try:
                records = fmt.convert(raw.data, row_ctx)
            except RowRejected as rejected:
                result.errors.append(RowError(str(path), raw.row, rejected.field, rejected.reason))
                continue
            result.records.extend(records)
            converted += len(records)
            expanded += sum(len(r.prompt) + len(r.response_a) + len(r.response_b) for r in records)
            if expanded > max_bytes:
                raise InputFileError(
                    str(path),
                    f"its pairs expand to more than {max_bytes / 2**20:.0f} MiB of text (GRAM_MAX_IMPORT_MB bounds "
                    "what an import stores, not only its files)",
                )
        result.files.append(FileReport(str(path), fmt.name, len(rows), converted))
    return result


def refuse_work(parsed: ParsedFiles) -> None:
    """PermissionDenied if the parsed files carry judgments or reviews (an admin's import)."""
    carrying = [r for r in parsed.records if r.judgments or r.reviews]
    if carrying:
        raise PermissionDenied(
            f"{len(carrying)} of these pairs carry judgments or reviews (a dump of people's work); only an "
            "admin may import those. Import the pairs without the judgments and reviews columns instead."
        )


def file_columns(paths: list[Path], max_bytes: int) -> list[str]:
    """The columns the files' first rows have (what a column mapping can name)."""
    columns: set[str] = set()
    for path in paths:
        columns |= _columns(read_rows(path, max_bytes)[:DETECTION_SAMPLE])
    return sorted(columns)


def _columns(rows: list[RawRow]) -> set[str]:
    """Every column any of the rows has."""
    return {key for raw in rows if raw.data for key in raw.data}


def _apply_mapping(path: Path, rows: list[RawRow], mapping: dict[str, str]) -> None:
    """Rename source columns to the names a format expects (`--map prompt=question`)."""
    columns = _columns(rows)
    missing = sorted(source for source in mapping.values() if source not in columns)
    if missing:
        raise InputFileError(
            str(path), f"{OPTIONS['map'].cli} names columns {missing} that the file lacks; it has {sorted(columns)}"
        )
    for raw in rows:
        if raw.data:
            for target, source in mapping.items():
                if source in raw.data:
                    raw.data[target] = raw.data.pop(source)
                if source in raw.text_cells:
                    raw.text_cells[target] = raw.text_cells.pop(source)


def _choose_format(path: Path, rows: list[RawRow], format_name: str | None) -> Format:
    if format_name:
        if format_name not in FORMATS_BY_NAME:
            raise GramError(f"unknown format '{format_name}'; known: {', '.join(FORMATS_BY_NAME)}")
        return FORMATS_BY_NAME[format_name]
    sample = [raw.data for raw in rows if raw.data is not None and raw.error is None]
    if not sample:
        raise InputFileError(str(path), "no readable rows")
    columns = {key for data in sample[:DETECTION_SAMPLE] for key in data}
    fmt = detect(columns)
    if fmt is None:
        known = "; ".join(f"{f.name}: {f.description}" for f in FORMATS_BY_NAME.values())
        raise InputFileError(
            str(path),
            f"cannot recognise the format from columns {sorted(columns)}. Known formats: {known}. "
            f"Rename columns with {OPTIONS['map'].cli} (e.g. prompt=question).",
        )
    return fmt


def store_records(
    session: Session, dataset_name: str, records: list[PairRecord], *, source: str = ""
) -> tuple[Dataset, int, int, Counter[str]]:
    """Add `records` to the dataset (created if new); returns (dataset, added, duplicates, labels)."""
    dataset_name = check_dataset_name(dataset_name)
    dataset = session.scalar(select(Dataset).where(Dataset.name == dataset_name))
    if dataset is None:
        check_distinct(session, dataset_name)
        dataset = Dataset(name=dataset_name, source=source)
        session.add(dataset)
        session.flush()
    seen = set(session.scalars(select(Pair.content_hash).where(Pair.dataset_id == dataset.id)))
    added, duplicates, labels = 0, 0, Counter[str]()
    for record in records:
        digest = record.content_hash()
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        pair = Pair(
            dataset_id=dataset.id,
            prompt=record.prompt,
            conversation=record.conversation,
            response_a=record.response_a,
            response_b=record.response_b,
            reference_label=record.label,
            source=record.source,
            external_id=record.external_id,
            meta=record.meta,
            content_hash=digest,
        )
        judgments = [restore_judgment(item) for item in record.judgments]
        pair.judgments = judgments
        pair.reviews = [restore_review(review, judgments) for review in record.reviews]
        session.add(pair)
        added += 1
        labels[record.label or "none"] += 1
        if added % 2000 == 0:
            session.flush()
    session.flush()
    return dataset, added, duplicates, labels


def import_files(
    session: Session,
    paths: Sequence[Path],
    *,
    dataset: str | None = None,
    mapping: dict[str, str] | None = None,
    format_name: str | None = None,
    allow_empty: bool = False,
    max_bytes: int,
    max_chars: int,
    with_work: bool = True,
) -> ImportReport:
    """Import `paths` into `dataset` (default: the first file's name). The caller commits.

    Judgments, reviews and their history (a dump's) speak for the people and models named in them:
    without `with_work` (a reviewer's import) a file that carries any is refused as a whole."""
    if not paths:
        raise GramError("nothing to import: give at least one file")
    parsed = parse_files(
        paths,
        mapping=mapping,
        format_name=format_name,
        allow_empty=allow_empty,
        max_bytes=max_bytes,
        max_chars=max_chars,
    )
    if not with_work:
        refuse_work(parsed)
    name = check_dataset_name(Path(paths[0]).stem if dataset is None else dataset)
    if not parsed.records:
        # Nothing valid: report the rejections without creating an empty dataset.
        return ImportReport(name, parsed.files, 0, 0, parsed.errors)
    ds, added, duplicates, labels = store_records(
        session, name, parsed.records, source=", ".join(str(p) for p in paths)
    )
    report = ImportReport(ds.name, parsed.files, added, duplicates, parsed.errors, dict(labels))
    log.info("import %s: %s", ", ".join(str(p) for p in paths), report.summary())
    return report


def write_error_report(report: ImportReport, path: Path | None, folder: Path) -> Path:
    """Every rejected row, one per line, in `path` (default: a dated file in `folder`)."""
    tail = f"-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    path = path or file_in(folder, report.dataset, ".txt", tail=tail)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{error}\n" for error in report.errors), encoding="utf-8")
    return path


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """Column renames from 'field=column' items (`--map`, or one per line in the studio)."""
    mapping = {}
    for item in items:
        if not item.strip():
            continue
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise ConfigError(f"column mapping '{item.strip()}' is not field=column")
        mapping[target.strip()] = source.strip()
    return mapping
