"""The Datasets tab: the datasets and their counts, import (upload or server path) with a preview,
and export in each format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app.context import StudioContext
from app.handlers import bound, on
from app.render import literal
from app.widgets import dataset_dropdown, dataset_names
from core.access.roles import Action
from core.data.datasets import get_dataset, list_datasets, rename_dataset, set_guidelines
from core.data.formats import FORMATS
from core.data.importer import file_columns, import_files, parse_files, parse_mapping, refuse_work
from core.data.pair_record import RowError
from core.data.paths import allowed_import_path
from core.errors import GramError, in_studio_words
from core.export.deletion import delete_dataset
from core.export.rows import EXPORT_FORMATS, export_to_folder

DATASET_COLUMNS = ["dataset", "pairs", "judged", "reviewed", "created"]
SHOWN_ERRORS = 50


def dataset_rows(ctx: StudioContext) -> list[list[Any]]:
    with ctx.db.session() as session:
        return [
            [s.name, s.pairs, s.judged, s.reviewed, f"{s.created_at:%Y-%m-%d %H:%M}"] for s in list_datasets(session)
        ]


def import_roots_line(ctx: StudioContext) -> str:
    """Where a path import may read from, said where the path is typed (plain text: an info line)."""
    roots = ctx.settings.allowed_import_roots
    shown = "; ".join(f"{root}{'' if root.is_dir() else ' (missing)'}" for root in roots)
    return f"Paths inside {shown} (GRAM_IMPORT_ROOTS); put files there on the server, or upload them."


def _paths(ctx: StudioContext, files: list[Any] | None, path: str, user: str) -> list[Path]:
    """Uploaded files, and a typed server path if it lies in a folder the operator allowed (an
    admin's: a server path reads the server's disk)."""
    chosen = [Path(f if isinstance(f, str) else f.name) for f in files or []]
    if path.strip():
        ctx.team.require(user, Action.IMPORT_SERVER_PATH)
        chosen.append(allowed_import_path(path, ctx.settings.allowed_import_roots))
    if not chosen:
        raise GramError("upload a file or give a local path (a file or a Hugging Face datasets folder)")
    return chosen


def _errors(errors: list[RowError]) -> str:
    if not errors:
        return "No rows rejected."
    shown = "\n".join(f"- {literal(in_studio_words(str(e)))}" for e in errors[:SHOWN_ERRORS])
    more = f"\n\n…and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
    return f"**{len(errors)} rows rejected:**\n{shown}{more}"


def preview_import(
    ctx: StudioContext, files: list[Any] | None, path: str, mapping: str, user: str = "local"
) -> tuple[str, pd.DataFrame, str]:
    parsed = parse_files(
        _paths(ctx, files, path, user),
        mapping=parse_mapping(mapping.replace(",", "\n").splitlines()),
        max_bytes=ctx.settings.max_import_bytes,
        max_chars=ctx.settings.max_field_chars,
    )
    if not ctx.team.may(user, Action.IMPORT_WORK):
        refuse_work(parsed)
    found = "\n".join(f"- `{Path(f.path).name}`: **{f.format}**, {f.rows} rows → {f.pairs} pairs" for f in parsed.files)
    preview = pd.DataFrame(
        [
            {
                "prompt": r.prompt[:120],
                "response_a": r.response_a[:80],
                "response_b": r.response_b[:80],
                "label": r.label,
                "source": r.source,
            }
            for r in parsed.records[:10]
        ]
    )
    return f"Detected:\n{found}", preview, _errors(parsed.errors)


def run_import(
    ctx: StudioContext,
    files: list[Any] | None,
    path: str,
    mapping: str,
    name: str,
    allow_empty: bool,
    user: str = "local",
) -> tuple[str, str, list[list[Any]]]:
    with ctx.db.session() as session:
        report = import_files(
            session,
            _paths(ctx, files, path, user),
            dataset=name.strip() or None,
            mapping=parse_mapping(mapping.replace(",", "\n").splitlines()),
            allow_empty=allow_empty,
            max_bytes=ctx.settings.max_import_bytes,
            max_chars=ctx.settings.max_field_chars,
            with_work=ctx.team.may(user, Action.IMPORT_WORK),
        )
    return literal(report.summary()), _errors(report.errors), dataset_rows(ctx)


def run_export(
    ctx: StudioContext, dataset: str, fmt: str, include_reference: bool, user: str = "local"
) -> tuple[str, str]:
    """Write the export to download: an admin's holds everyone's reviews, a reviewer's only their own."""
    if not dataset:
        raise GramError("choose a dataset to export")
    everyone = ctx.team.may(user, Action.EXPORT_EVERYONE)
    with ctx.db.session() as session:
        out, result = export_to_folder(
            session,
            dataset,
            fmt,  # type: ignore[arg-type]
            ctx.settings.exports_dir,
            include_reference=include_reference,
            reviewer=None if everyone else user,
        )
    whose = "" if everyone else f" (your reviews only, {user})"
    return str(out), literal(f"wrote {out.name}{whose}: {result.summary()}")


def _chooser(ctx: StudioContext, value: str | None) -> dict[str, Any]:
    names = dataset_names(ctx)
    return gr.update(choices=names, value=value if value in names else (names[0] if names else None))


def rename(ctx: StudioContext, dataset: str, new_name: str, user: str) -> list[Any]:
    """The note, the datasets table and the chooser, after renaming the dataset."""
    ctx.team.require(user, Action.RENAME_DATASET)
    if not dataset:
        raise GramError("choose a dataset to rename")
    with ctx.db.session() as session:
        rename_dataset(session, dataset, new_name.strip())
    note = f"Renamed **{literal(dataset)}** to **{literal(new_name.strip())}**."
    return [note, dataset_rows(ctx), _chooser(ctx, new_name.strip())]


def delete(ctx: StudioContext, dataset: str, typed: str, user: str) -> list[Any]:
    """Delete the dataset once its name is typed again (a full dump of it is written first): the
    dump to download, the note, the datasets table and the chooser."""
    ctx.team.require(user, Action.DELETE_DATASET)
    if not dataset:
        raise GramError("choose a dataset to delete")
    if typed.strip() != dataset:
        raise GramError(f"type the dataset's name, {dataset}, in the box to confirm the deletion")
    deleted = delete_dataset(ctx.db, dataset, ctx.settings.exports_dir / "deleted")
    return [str(deleted.kept_in), literal(deleted.summary()), dataset_rows(ctx), _chooser(ctx, None)]


# The fields a column can be mapped to: every column some format reads.
MAPPABLE_FIELDS = sorted({column for fmt in FORMATS for column in fmt.required} | {"label", "source", "id"})
FORMATS_TEXT = "Formats recognised from the columns:\n" + "\n".join(
    f"- **{fmt.name}**: {literal(fmt.description)}" for fmt in FORMATS
)


def columns_of(ctx: StudioContext, files: list[Any] | None, path: str, user: str) -> dict[str, Any]:
    """The file's columns, offered to the column mapping."""
    columns = file_columns(_paths(ctx, files, path, user), ctx.settings.max_import_bytes)
    return gr.update(choices=columns, value=columns[0] if columns else None)


def add_mapping(mapping: str, field: str | None, column: str | None) -> str:
    if not field or not column:
        raise GramError("choose a field and one of the file's columns")
    lines = [line for line in mapping.replace(",", "\n").splitlines() if line.strip()]
    return "\n".join([*lines, f"{field}={column}"])


def read_guidelines(ctx: StudioContext, dataset: str) -> str:
    if not dataset:
        return ""
    with ctx.db.session() as session:
        return get_dataset(session, dataset).guidelines


def save_guidelines(ctx: StudioContext, dataset: str, text: str, user: str = "local") -> str:
    if not dataset:
        raise GramError("choose a dataset first")
    ctx.team.require(user, Action.EDIT_GUIDELINES)
    with ctx.db.session() as session:
        set_guidelines(session, dataset, text)
    return f"Saved the guidelines of **{literal(dataset)}**; reviewers see them beside each pair."


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    table = gr.Dataframe(headers=DATASET_COLUMNS, interactive=False, elem_id="datasets-table")
    on(studio.load, lambda: dataset_rows(ctx), outputs=table, api_name="datasets_on_load")
    refresh = gr.Button("Refresh")
    on(refresh.click, lambda: dataset_rows(ctx), outputs=table, api_name="datasets")
    gr.Markdown("### Import\nUpload files or give a local path; the format is recognised from the columns.")
    with gr.Accordion("Formats", open=False):
        gr.Markdown(FORMATS_TEXT, elem_id="import-formats")
    with gr.Row():
        files = gr.File(label="Files", file_count="multiple", elem_id="import-files")
        with gr.Column():
            path = gr.Textbox(
                label="…or a local path (file or datasets folder)",
                info=import_roots_line(ctx),
                elem_id="import-path",
            )
            name = gr.Textbox(label="Dataset name (default: the file's name)", elem_id="import-name")
            mapping = gr.Textbox(
                label="Column mapping, field=column per line (optional)", lines=2, elem_id="import-mapping"
            )
            with gr.Row():
                map_field = gr.Dropdown(MAPPABLE_FIELDS, value=None, label="field", elem_id="map-field")
                map_column = gr.Dropdown([], label="the file's column (after Preview)", elem_id="map-column")
                map_add = gr.Button("Add to the mapping", scale=0, elem_id="map-add")
            allow_empty = gr.Checkbox(label="keep pairs with an empty response")
    with gr.Row():
        preview_button = gr.Button("Preview", elem_id="import-preview")
        import_button = gr.Button("Import", variant="primary", elem_id="import-run")
    detected = gr.Markdown(elem_id="import-detected")
    preview = gr.Dataframe(interactive=False, label="Preview (first 10 pairs)")
    summary = gr.Markdown(elem_id="import-summary")
    rejected = gr.Markdown(elem_id="import-rejected")

    # Its own event: the columns are offered even when the format is not recognised yet.
    on(preview_button.click, bound(ctx, columns_of), [files, path], map_column, api_name="import_columns")
    on(map_add.click, add_mapping, [mapping, map_field, map_column], mapping, api_name="import_add_mapping")
    shown_preview = [detected, preview, rejected]
    on(
        preview_button.click,
        bound(ctx, preview_import),
        [files, path, mapping],
        shown_preview,
        api_name="import_preview",
    )
    on(
        import_button.click,
        bound(ctx, run_import),
        [files, path, mapping, name, allow_empty],
        [summary, rejected, table],
        api_name="import",
    )
    gr.Markdown("### Review guidelines\nMarkdown, shown beside each pair on the Review page.")
    with gr.Row():
        guide_dataset = dataset_dropdown(ctx, studio, "guideline_datasets", label="Dataset", elem_id="guide-dataset")
        guide_save = gr.Button("Save guidelines", elem_id="guide-save", scale=0)
    guide_text = gr.Textbox(label="Guidelines (Markdown)", lines=6, elem_id="guide-text")
    guide_note = gr.Markdown(elem_id="guide-note")
    on(guide_dataset.change, lambda d: read_guidelines(ctx, d), [guide_dataset], [guide_text], api_name="guidelines")

    on(
        guide_save.click,
        bound(ctx, save_guidelines),
        [guide_dataset, guide_text],
        [guide_note],
        api_name="save_guidelines",
    )
    gr.Markdown("### Export")
    with gr.Row():
        export_dataset = dataset_dropdown(ctx, studio, "export_datasets", label="Dataset", elem_id="export-dataset")
        fmt = gr.Radio(
            list(EXPORT_FORMATS),
            value="dpo",
            label="Format (dpo: TRL preference; sft: rationale SFT; jsonl: full dump)",
        )
        include_reference = gr.Checkbox(
            label="dpo: also pairs nobody reviewed, with their reference label", elem_id="export-reference"
        )
        export_button = gr.Button("Export", elem_id="export-button")
    exported = gr.File(label="Download")
    export_note = gr.Markdown(elem_id="export-note")

    on(
        export_button.click,
        bound(ctx, run_export),
        [export_dataset, fmt, include_reference],
        [exported, export_note],
        api_name="export",
    )
    gr.Markdown(
        "### Rename or delete\nA deletion first saves the dataset's full dump (pairs, judgments, everyone's "
        "reviews and their history) for download; `gram import` of it brings everything back."
    )
    with gr.Row():
        manage_dataset = dataset_dropdown(ctx, studio, "manage_datasets", label="Dataset", elem_id="manage-dataset")
        new_name = gr.Textbox(label="New name", elem_id="rename-to")
        rename_button = gr.Button("Rename", elem_id="rename-button", scale=0)
    with gr.Row():
        typed = gr.Textbox(label="Type the dataset's name to delete it", elem_id="delete-confirm")
        delete_button = gr.Button("Delete dataset", elem_id="delete-button", variant="stop", scale=0)
    kept = gr.File(label="The deleted dataset's dump", elem_id="deleted-dump")
    manage_note = gr.Markdown(elem_id="manage-note")

    managed = [manage_note, table, manage_dataset]
    on(rename_button.click, bound(ctx, rename), [manage_dataset, new_name], managed, api_name="rename_dataset")
    on(delete_button.click, bound(ctx, delete), [manage_dataset, typed], [kept, *managed], api_name="delete_dataset")
