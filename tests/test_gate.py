"""The regression gate (issue 25, item 7): `gram check DATASET VERSION` exits 1 when VERSION is
significantly worse than the active version on held-out reviewed pairs neither trained on, 0
otherwise, with McNemar's counts; it refuses before any model loads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import cli
from core.data.identity import content_key
from core.model.spec import ModelSpec
from core.model.versions import activate
from core.review.reviews import save_review
from core.train.split import is_held_out
from storage.database import Database
from storage.tables import ModelVersion
from tests import factories
from tests.fakes import ScriptedBackend, longer_wins

N = 160


def _shorter_wins(first: str, second: str) -> float:
    return -longer_wins(first, second)


def _mostly_longer(first: str, second: str) -> float:
    """Right where the longer is better, but wrong on a few pairs (those whose lengths differ by 7)."""
    return -longer_wins(first, second) if abs(len(first) - len(second)) == 7 else longer_wins(first, second)


RULES = {"/m/base": longer_wins, "/m/worse": _shorter_wins, "/m/close": _mostly_longer}


def _fake_backend(name: str, spec: ModelSpec, **_: Any) -> ScriptedBackend:
    return ScriptedBackend(spec, lean=RULES[spec.path])


@pytest.fixture
def store(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A dataset whose reviewed label is always the longer response; an active base version; two
    candidates: one that prefers the shorter, one wrong on a few pairs and trained on some."""
    monkeypatch.setattr("core.train.adaptation.load_backend", _fake_backend)
    texts = [(f"prompt {i}", "yes " * (i % 5 + 1) + "x" * (i % 11), "no " * (i % 5 + 4)) for i in range(N)]
    with db.session() as session:
        longer = ["A" if len(a) > len(b) else "B" for _, a, b in texts]
        ids = factories.dataset(session, name="d", labels=longer, texts=texts)
        for pair_id, label in zip(ids, longer, strict=True):
            save_review(session, pair_id, reviewer="ana", label=label)
        held = [content_key(*t) for t in texts if is_held_out(content_key(*t), 0.25)]
        base = ModelVersion(name="base", base_model="/m/base")
        worse = ModelVersion(name="worse", base_model="/m/worse")
        close = ModelVersion(name="close", base_model="/m/close", config={"train_keys": held[:5]})
        session.add_all([base, worse, close])
        session.flush()
        activate(session, base)
    return db


def test_a_significantly_worse_version_fails_the_gate(store: Database) -> None:
    result = CliRunner().invoke(cli, ["check", "d", "worse", "--json"])
    assert result.exit_code == 1, result.output
    found = json.loads(result.output)
    c = found["comparison"]
    assert found["worse"] and c["broken"] > c["fixed"] and c["p_value"] < 0.05
    assert c["n"] == found["held_out"] >= 20 and found["left_out"] == 0
    plain = CliRunner().invoke(cli, ["check", "d", "worse"])
    assert plain.exit_code == 1 and "FAIL: significantly worse" in plain.output and "McNemar" in plain.output


def test_a_version_not_significantly_worse_passes_and_pairs_it_trained_on_are_left_out(store: Database) -> None:
    result = CliRunner().invoke(cli, ["check", "d", "close", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert not found["worse"] and found["left_out"] == 5
    assert found["comparison"]["n"] == found["held_out"] - 5


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["check", "nope", "worse"], "no dataset"),
        (["check", "d", "no-such-version"], "no model version"),
        (["check", "d", "base"], "active version"),
        (["check", "d", "worse", "--holdout", "1.5"], "held-out fraction"),
    ],
)
def test_bad_arguments_are_one_line(store: Database, args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output  # not 1: that is "significantly worse"
    assert words in result.output and "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_activation_shows_the_same_test_first() -> None:
    from app.pages.adapt import regression_check
    from core.evaluation.comparison import compare

    worse = compare([True] * 30, [True] * 10 + [False] * 20).as_dict()  # 20 broken, none fixed
    config, result = {"parent_version": 7, "adapt": {"dataset": "d"}}, {"version": "v2", "comparison": worse}
    said = regression_check(config, result, 7, "base")
    assert said.startswith("**Significantly worse than the active version.**") and "broken 20" in said
    elsewhere = regression_check(config, result, 8, "other")  # not the version it was measured against
    assert "`gram check d v2`" in elsewhere
    same = {"version": "v3", "comparison": compare([True] * 30, [True] * 30).as_dict()}
    assert regression_check({"parent_version": 7}, same, 7, "base").startswith("Regression check:")
