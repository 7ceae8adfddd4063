"""The default judge: a judge head on the embedded model, shipped with the package.

`benchmarks/default_judge.py` fits it on the human-labelled PandaLM and LLMBar pairs (licences
allow it; BIG-bench HHH only measures it) and writes it to `SHIPPED` with its held-out figures and
the content keys it trained on. `benchmarks/default_judge_loso.py` then asks whether it holds off
its training sources: leave-one-source-out, is its confidence calibrated (ECE <= 0.05) and its
accuracy not significantly below the untrained model's on every source it did not train on? Its
answer is kept in the figures (`loso`). Only when it holds does a fresh store of the embedded model
get the head as its first active version (`install_default_judge`). It does not hold today: a head
fitted on PandaLM is right on 0.17 of LLMBar's adversarial pairs and one fitted on LLMBar on 0.26
of PandaLM's (the sources reward opposite surface cues), and no temperature calibrates a judge that
is worse than chance. So a fresh studio starts on the untrained model, and `gram models default`
installs the head on request, with the untrained model as its parent: rolling back returns to it,
and the pairs it trained on are never counted in a later figure (core/model/lineage.py).
"""

from __future__ import annotations

import json
import secrets
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import GramError
from core.head.classifier import HEAD_FILE, is_head
from core.model.spec import ModelSpec, resolve_model
from core.model.versions import activate, active_version, create_version, version_for
from core.settings import EMBEDDED_MODEL, Settings
from core.vocab import BackendName
from storage.database import Database
from storage.tables import ModelVersion

SHIPPED = Path(str(files("core.head") / "shipped_head"))
NAME = "default-judge"
FIGURES = "figures.json"  # the held-out comparison the benchmark measured
TRAIN_KEYS = "train_keys.json"  # content keys of the pairs it trained on


def shipped_figures() -> dict[str, Any] | None:
    """What the benchmark measured of the shipped head, or None when none ships."""
    path = SHIPPED / FIGURES
    return json.loads(path.read_text()) if is_head(SHIPPED) and path.is_file() else None


def holds_off_its_sources(figures: dict[str, Any]) -> bool:
    """Whether leave-one-source-out found the shipped judge calibrated and no worse than the
    untrained model on every source it did not train on."""
    loso = figures.get("loso")
    return isinstance(loso, dict) and loso.get("ship") is True


def install_default_judge(db: Database, settings: Settings) -> str | None:
    """The studio's first start: make the shipped judge the active version (its name returned), only
    for the embedded model on the transformers backend (a head reads hidden states, which vLLM does
    not return), only when no version is active and it was never installed (a person's choice
    stands). Studios starting at once on one fresh store install it once: the version's unique
    name decides, and the others then find it installed."""
    figures = shipped_figures()
    if settings.model != EMBEDDED_MODEL or settings.backend != BackendName.TRANSFORMERS or figures is None:
        return None
    if not holds_off_its_sources(figures):
        return None  # a judge that misleads on a new source is no default (benchmarks/default_judge_loso.py)
    for attempt in range(3):
        try:
            with db.session() as session:
                if active_version(session) is not None or _installed(session) is not None:
                    return None
                # Made here, never found: a start that finds another's version (made since the
                # look above) did not install it, and returns None below.
                return activate(session, _made(session, settings, figures)).name
        except IntegrityError:  # another start made the same rows first: look again
            if attempt == 2:
                raise
    return None


def _installed(session: Session) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.name == NAME)).first()


def default_judge(session: Session, settings: Settings) -> ModelVersion:
    """The shipped judge's version (inactive when made here), installed on first use: its head is
    copied into the data folder like every trained head, so it outlives the package's folder."""
    figures = shipped_figures()
    if figures is None:
        raise GramError(f"no default judge ships with this installation ({SHIPPED} holds no head)")
    if settings.model != EMBEDDED_MODEL:
        raise GramError(f"the default judge is a head of the embedded model, not of {settings.model}")
    if (found := _installed(session)) is not None:
        return found
    return _made(session, settings, figures)


def _made(session: Session, settings: Settings, figures: dict[str, Any]) -> ModelVersion:
    """The shipped judge's version, made now (IntegrityError at the flush where it exists)."""
    base = resolve_model(settings)
    folder = settings.models_dir / "heads" / NAME
    _copy_head(folder)
    return create_version(
        session,
        NAME,
        ModelSpec(NAME, base.path, None, str(folder)),
        parent=version_for(session, base),
        job_id=None,
        config={
            "shipped": True,
            "sources": figures["sources"],
            "train_keys": json.loads((SHIPPED / TRAIN_KEYS).read_text()),  # never held out later (split.py)
        },
        metrics=figures["metrics"],
        exact_name=True,  # never "default-judge-2": the unique name is what makes it once
    )


def _copy_head(folder: Path) -> None:
    """The shipped head, copied whole to `folder` (staged under a name of its own, then renamed:
    of several copies at once, the first rename wins and the others are dropped)."""
    if is_head(folder):
        return
    staging = folder.with_name(f"{folder.name}.partial-{secrets.token_hex(4)}")
    staging.mkdir(parents=True)
    shutil.copy2(SHIPPED / HEAD_FILE, staging / HEAD_FILE)
    try:
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not is_head(folder):
            raise


def describe(report: dict[str, Any]) -> str:
    """The shipped folder's README: what the head is, what it learnt from, what it scores."""
    held = report["results"]["held_out"]["paired"]
    lines = [
        "# The default judge",
        "",
        "A judge head (core/head/classifier.py) on SmolLM2-135M-Instruct, written by",
        "`benchmarks/default_judge.py`. Trained on human-labelled pairs of PandaLM",
        "(WeOpenML/PandaLM, Apache-2.0) and LLMBar (princeton-nlp/LLMBar, MIT), ties left out;",
        "the head's weights are derived from them. BIG-bench HHH (Apache-2.0) only measured it.",
        "",
        f"Pairs: {report['pairs']['train']} trained on, {report['pairs']['held-out']} held out (every demo pair "
        f"and a quarter of the rest by content hash), {report['pairs']['eval-only']} BIG-bench HHH.",
        "",
        "| pairs it never saw | n | untrained | default judge (95% CI) | fixed / broken | McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        if name.startswith("train"):
            continue
        p = r["paired"]
        lines.append(
            f"| {name} | {p['n']} | {p['before']:.3f} | {p['after']:.3f} ({p['after_ci'][0]:.2f}-"
            f"{p['after_ci'][1]:.2f}) | {p['fixed']} / {p['broken']} | {p['p_value']:.2g} |"
        )
    lines += ["", f"Held-out gain: {held['after'] - held['before']:+.3f} (shipped only at +0.05 or more)."]
    return "\n".join(lines) + "\n"
