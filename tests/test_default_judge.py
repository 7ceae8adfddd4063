"""The default judge shipped with the package (core/head/default_judge.py): installed once on a
fresh store of the embedded model, a version like any other, never trained on a demo pair, and
scoring as it did when benchmarks/default_judge.py measured it (that script measures how much
better than the untrained model it is)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.demo import demo_rows
from core.data.identity import content_key
from core.head.default_judge import (
    NAME,
    SHIPPED,
    TRAIN_KEYS,
    default_judge,
    holds_off_its_sources,
    install_default_judge,
    shipped_figures,
)
from core.model.lineage import trained_keys
from core.model.spec import ModelSpec
from core.model.versions import activate, active_version, list_versions, rollback, spec_of, version_for
from core.settings import Settings
from core.vocab import BackendName
from storage.database import Database
from tests.helpers import gram_output


def _shipped_keys() -> set[str]:
    return set(json.loads((SHIPPED / TRAIN_KEYS).read_text()))


def test_a_judge_that_fails_off_its_sources_is_no_default_but_installs_on_request(
    db: Database, settings: Settings, embedded_placeholder: Path
) -> None:
    """Issue 25, item 1: leave-one-source-out found the head worse than the untrained model on the
    sources it did not train on, so a fresh store does not start on it; `gram models default` still
    installs it, and says so."""
    figures = shipped_figures()
    assert figures is not None, "no default judge ships: run benchmarks/default_judge.py --write"
    assert figures["loso"]["ship"] is False and not holds_off_its_sources(figures)
    assert install_default_judge(db, settings) is None
    with db.session() as session:
        assert active_version(session) is None
    said = gram_output("models", "default")
    assert "active: default-judge" in said and "leave-one-source-out" in said


def test_a_fresh_store_starts_with_a_judge_that_holds_once_and_rolls_back_to_the_untrained_model(
    db: Database, settings: Settings, embedded_placeholder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = shipped_figures()
    assert figures is not None
    holding = {**figures, "loso": {**figures["loso"], "ship": True}}  # were the rule to hold
    monkeypatch.setattr("core.head.default_judge.shipped_figures", lambda: holding)
    assert install_default_judge(db, settings) == NAME
    with db.session() as session:
        version = active_version(session)
        assert version is not None and version.name == NAME
        assert Path(version.head_path).is_relative_to(settings.models_dir)  # a copy: outlives the package
        assert trained_keys(session, version.id) == _shipped_keys()  # never held out by a later adaptation
        (line,) = [v.line() for v in list_versions(session) if v.name == NAME]
        after = figures["metrics"]["after"]
        assert "[head]" in line and f"n={after['n']}" in line and "95% CI" in line, line
        assert rollback(session).name != NAME  # its parent: the untrained embedded model
    assert install_default_judge(db, settings) is None  # a person's choice stands
    with db.session() as session:
        assert active_version(session).name != NAME  # type: ignore[union-attr]
    assert "active: default-judge" in gram_output("models", "default")
    with db.session() as session:
        assert active_version(session).id == version.id  # type: ignore[union-attr]  # the same version


def test_the_shipped_judge_is_installed_only_for_the_embedded_model_on_a_backend_that_runs_it(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    assert install_default_judge(db, settings.model_copy(update={"model": str(tmp_path)})) is None
    assert install_default_judge(db, settings.model_copy(update={"backend": BackendName.VLLM})) is None
    with db.session() as session:
        with pytest.raises(Exception, match="head of the embedded model"):
            default_judge(session, settings.model_copy(update={"model": str(tmp_path)}))
        mine = activate(session, version_for(session, ModelSpec("mine", str(tmp_path))))
    assert install_default_judge(db, settings) is None  # a version was already active
    with db.session() as session:
        assert active_version(session).id == mine.id  # type: ignore[union-attr]


def test_the_shipped_judge_never_trained_on_a_demo_pair() -> None:
    demo = {content_key(r["prompt"], r["response_a"], r["response_b"]) for r in demo_rows()}
    keys = _shipped_keys()
    assert len(keys) > 500 and not keys & demo


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_shipped_judge_scores_demo_pairs_as_when_it_was_measured(
    db: Database, settings: Settings, embedded_model_dir: Path
) -> None:
    """The held-out demo pairs the benchmark recorded, judged again through the fast path as judging
    runs it: a change to the features the code computes would leave the shipped weights guessing."""
    from core.backends.transformers_backend import TransformersBackend
    from core.head.fast_path import score_pairs
    from core.text.pair import PairText

    rows = {content_key(r["prompt"], r["response_a"], r["response_b"]): r for r in demo_rows()}
    probes = shipped_figures()["probes"]  # type: ignore[index]
    texts = [PairText(rows[key]["prompt"], rows[key]["response_a"], rows[key]["response_b"]) for key, _ in probes]
    with db.session() as session:
        head = spec_of(default_judge(session, settings)).head
    judged = score_pairs(TransformersBackend(ModelSpec("smollm2", str(embedded_model_dir), head=head)), texts)
    assert len(probes) >= 10
    for score, (key, expected) in zip(judged, probes, strict=True):
        assert abs(score.prob_a - expected) < 1e-3, (key, score.prob_a, expected)
        assert score.consistent  # a head cannot prefer a position


def test_studios_starting_at_once_on_a_fresh_store_install_the_shipped_judge_once(
    either_db: Database, settings: Settings, embedded_placeholder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two or more studios started together on one fresh team store (were the judge to hold off its
    sources): each start succeeds, one version is installed and active, and its head is whole."""
    from sqlalchemy import func, select

    from storage.tables import ModelVersion
    from tests.helpers import threads_at_once

    figures = shipped_figures()
    assert figures is not None
    holding = {**figures, "loso": {**figures["loso"], "ship": True}}
    monkeypatch.setattr("core.head.default_judge.shipped_figures", lambda: holding)

    url = either_db.engine.url.render_as_string(hide_password=False)
    stores = [Database(url) for _ in range(6)]
    installed: list[str | None] = []
    errors = threads_at_once(lambda k: installed.append(install_default_judge(stores[k], settings)), 6)  # type: ignore[arg-type]
    assert not errors, errors
    assert installed.count(NAME) == 1 and installed.count(None) == 5, installed
    with stores[0].session() as session:
        assert (
            session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.name.startswith(NAME)))
            == 1
        )
        assert active_version(session).name == NAME  # type: ignore[union-attr]
        assert Path(active_version(session).head_path, "head.safetensors").is_file()  # type: ignore[union-attr]
    for store in stores:
        store.dispose()


def test_a_fresh_studio_opens_on_the_embedded_models_shipped_verdicts_of_the_demo(
    db: Database, settings: Settings, embedded_placeholder: Path
) -> None:
    """Issue 26, item 1: the demo's pairs carry the embedded model's fast-path verdicts from the
    first start; a later fast run of the same model finds them judged; another model gets none."""
    from sqlalchemy import select

    from core.data.datasets import get_dataset
    from core.data.demo import DEMO_DATASET, seed_demo
    from core.judge.shipped import DEMO_VERDICTS, store_demo_verdicts
    from core.judge.work import JudgeRun, pending_pair_ids
    from core.model.spec import resolve_model
    from core.vocab import Protocol
    from storage.tables import Judgment

    shipped = json.loads(DEMO_VERDICTS.read_text())
    with db.session() as session:
        seed_demo(session, settings)
    spec = resolve_model(settings)
    assert shipped["model"] == spec.name and shipped["precision"] == "float32"
    assert store_demo_verdicts(db, spec, DEMO_DATASET) == len(demo_rows())  # every demo pair opens judged
    assert store_demo_verdicts(db, spec, DEMO_DATASET) == 0  # once
    with db.session() as session:
        version = version_for(session, spec)
        some = session.scalars(select(Judgment).where(Judgment.model_version_id == version.id)).first()
        assert some is not None and some.pair.latest_judgment_id == some.id
        record = shipped["records"][content_key(some.pair.prompt, some.pair.response_a, some.pair.response_b)]
        assert (some.prob_a, some.label, some.consistent) == (record["prob_a"], record["label"], record["consistent"])
        assert len(some.orders) == 2 and not some.orders[0].get("head")  # two real orders, measured
        key = JudgeRun(DEMO_DATASET, Protocol.LABEL_ONLY).options_key()
        dataset_id = get_dataset(session, DEMO_DATASET).id
        assert pending_pair_ids(session, dataset_id, version.id, key, labelled_only=False) == []
    assert store_demo_verdicts(db, ModelSpec("another", "/elsewhere"), DEMO_DATASET) == 0
    assert store_demo_verdicts(db, ModelSpec(spec.name, spec.path, None, "/a/head"), DEMO_DATASET) == 0
