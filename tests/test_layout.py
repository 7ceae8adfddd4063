"""The house rules that keep the code easy to find one's way in: rooms by concept, layers that
only look down, a thin app layer, small modules, every studio event named and behind the error edge."""

from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
import pytest

from app.handlers import shown_errors
from core.errors import GramError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "core", "storage")
LIMIT = 400  # lines per module


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


# core/'s packages, lowest first: a package may import those before it, never one after it (as
# import-linter's layers contract). Below them all: errors, vocab, settings, store.
CORE_ORDER = (
    "access",  # who may do what
    "stats",  # intervals and "too few to tell"
    "text",  # a pair's text, the prompts, the label slot
    "data",  # reading, importing, datasets, stored judgments
    "jobs",  # claims, progress, cancelling, batches
    "model",  # which model a judge runs, its versions
    "backends",  # inference engines
    "review",  # people's reviews, queues, consensus, agreement
    "head",  # the judge head, the fast path, the instant judge, the shipped default
    "judge",  # the generative path, ranking, judging jobs
    "evaluation",  # a model on held-out pairs, before and after
    "export",  # what leaves the studio
    "train",  # adaptation, self-training
    "worker",  # the runner of every job kind
)
FOUNDATION = {"errors", "vocab", "settings", "store"}


def _core_imports(path: Path) -> set[str]:
    """The module's imports of core/, at its top or inside a function (`_imports` walks both)."""
    return {m for m in _imports(path) if m.startswith("core.")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_core_keeps_each_concept_in_its_own_folder() -> None:
    flat = {p.stem for p in (ROOT / "core").glob("*.py")}
    assert flat == FOUNDATION | {"__init__"}, "a new concept gets a folder under core/"
    folders = {p.name for p in (ROOT / "core").iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(CORE_ORDER), "each package of core/ has its place in CORE_ORDER"
    for folder in folders:
        init = ROOT / "core" / folder / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), f"core/{folder} says what it holds"


def test_core_packages_only_import_those_below_them() -> None:
    upward = []
    for path in _modules("core"):
        parts = path.relative_to(ROOT / "core").parts
        here = parts[0] if len(parts) > 1 else Path(parts[0]).stem
        for module in _core_imports(path):
            there = module.split(".")[1]
            if there == here or there in FOUNDATION:  # circles among the foundation: the test below
                continue
            if here in FOUNDATION or CORE_ORDER.index(there) > CORE_ORDER.index(here):
                upward.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not upward, "imports that run upward in core/'s order:\n" + "\n".join(upward)


def test_no_module_imports_close_a_circle() -> None:
    """No two modules of core/ and storage/ reach each other through imports, wherever written."""
    import graphlib

    known = {_module_name(p): p for package in ("core", "storage") for p in _modules(package)}
    graph = {name: {m for m in _imports(path) if m in known and m != name} for name, path in known.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"modules that import each other: {' -> '.join(error.args[1])}")


def test_the_app_layer_holds_no_sql() -> None:
    for path in _modules("app"):
        touched = {m for m in _imports(path) if m.split(".")[0] == "sqlalchemy" or m == "storage.tables"}
        assert not touched, f"{path.relative_to(ROOT)} imports {touched}: queries belong in core/"


TABS = {"review", "team", "datasets", "judge", "adapt", "evaluate"}


def test_one_package_per_studio_tab() -> None:
    """Each tab is a package of app/pages (its layout, handlers and view together); nothing of a
    tab lives elsewhere in app/, and nothing else lives in app/pages."""
    pages = ROOT / "app" / "pages"
    assert {p.name for p in pages.iterdir() if p.is_dir() and p.name != "__pycache__"} == TABS
    assert {p.name for p in pages.glob("*.py")} == {"__init__.py"}
    assert all((pages / tab / "__init__.py").is_file() for tab in TABS)
    for path in (ROOT / "app").glob("*.py"):
        assert not any(path.stem.startswith(f"{tab}_") for tab in TABS), f"{path.name} belongs in app/pages/"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_the_limit(package: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules(package) if (n := len(p.read_text().splitlines())) > LIMIT}
    assert not long, f"split these modules (over {LIMIT} lines): {long}"


def test_every_studio_event_is_named_and_goes_through_the_error_edge(settings, db) -> None:
    from app.studio import StudioContext, build_studio

    ctx = StudioContext(settings.model_copy(update={"model": str(ROOT / "no-such-model")}), db)
    studio = build_studio(ctx)
    names = [f.api_name for f in studio.fns.values()]
    assert len(names) > 30 and all(names), "every event has an api_name"
    assert len(set(names)) == len(names), "api names are unique"
    unguarded = [f.api_name for f in studio.fns.values() if getattr(f.fn, "__wrapped__", None) is None]
    assert not unguarded, f"wire these through app.handlers.on: {unguarded}"


def test_the_error_edge_shows_the_projects_errors_and_hides_the_rest() -> None:
    def fixable() -> None:
        raise GramError("no dataset named 'x'")

    def bug() -> None:
        raise KeyError("secret internals")

    with pytest.raises(gr.Error, match="no dataset named 'x'"):
        shown_errors(fixable)()
    with pytest.raises(gr.Error) as caught:
        shown_errors(bug)()
    assert "secret internals" not in str(caught.value) and "KeyError" in str(caught.value)


def test_the_stores_defaults_are_words_of_the_vocabulary() -> None:
    """storage/ cannot import core/, so its column defaults are written out; they must be enum members."""
    import re

    from core.vocab import ACTIVE, JobStatus, Origin, Protocol
    from storage.tables import Job, Judgment

    assert Judgment.__table__.c.protocol.default.arg in set(Protocol)
    assert Judgment.__table__.c.origin.default.arg in set(Origin)
    assert Job.__table__.c.status.default.arg in set(JobStatus)
    # One unfinished job per piece of work: the partial index names exactly the active statuses.
    (index,) = [i for i in Job.__table__.indexes if i.name == "ix_jobs_active_work_key"]
    for dialect in ("sqlite", "postgresql"):
        where = str(index.dialect_options[dialect]["where"])
        assert set(re.findall(r"'(\w+)'", where)) == set(ACTIVE)


def test_the_readme_layout_names_every_room() -> None:
    """README's Layout section names each folder of core/ and app/ and each module at core/'s top."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rooms = [p.name + "/" for p in (ROOT / "core").iterdir() if p.is_dir() and not p.name.startswith("__")]
    rooms += [p.name + "/" for p in (ROOT / "app").iterdir() if p.is_dir() and not p.name.startswith("__")]
    rooms += [p.name for p in (ROOT / "core").glob("*.py") if p.stem != "__init__"]
    missing = [room for room in rooms if room not in layout]
    assert not missing, f"README's Layout does not name {missing}"
