"""Nothing outside its place: dataset names are checked where a dataset is made, and every file the
program names after user input stays inside its folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from core.data.demo import demo_paths
from core.data.importer import import_files
from core.errors import GramError
from core.export.rows import export_to_folder
from storage.tables import Dataset

LIMITS = {"max_bytes": 2**30, "max_chars": 200_000}


@pytest.mark.parametrize(
    "name", ["../../../../x", "a/b", "a\\b", "..", ".", "", "   ", "tab\there", "new\nline", "nul\x00", "x" * 201]
)
def test_a_dataset_name_that_could_leave_its_folder_is_refused(session: Session, name: str) -> None:
    with pytest.raises(GramError, match="dataset name"):
        import_files(session, [demo_paths()[0]], dataset=name, **LIMITS)
    assert session.query(Dataset).count() == 0


def test_ordinary_names_are_kept_as_given(session: Session) -> None:
    for name in ("demo", "My reviews (v2)", "ünïcode-набор", "a.b_c-d"):
        assert import_files(session, [demo_paths()[0]], dataset=name, **LIMITS).dataset == name


def test_an_export_stays_in_its_folder_whatever_the_stored_name(session: Session, tmp_path: Path) -> None:
    """A store made before names were checked may hold any name; the file is still made safe."""
    exports = tmp_path / "home" / "exports"
    for hostile in ("../../../../escaped", "/etc/passwd-like", "a/../../b", "..", "con\x01trol"):
        session.add(Dataset(name=hostile, source="old store"))
        session.flush()
        out, _ = export_to_folder(session, hostile, "jsonl", exports)
        assert out.resolve().parent == exports.resolve(), (hostile, out)
    assert not list(tmp_path.glob("*escaped*")) and not (tmp_path / "b-jsonl.jsonl").exists()
