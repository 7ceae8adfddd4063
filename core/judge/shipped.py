"""The default judge's verdicts on the demo pairs, shipped with it, stored at a fresh studio's
first start so that it opens on judged pairs (core/head/default_judge.py ships the head;
benchmarks/demo_verdicts.py writes the verdicts from it)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from core.data.identity import content_key
from core.head.classifier import HEAD_FILE, is_head
from core.head.default_judge import DEMO_VERDICTS, SHIPPED, file_sha256
from core.judge.work import JudgeRun
from core.vocab import BackendName, Order, Protocol, verdict_for
from storage.database import Database
from storage.tables import Dataset, Judgment, ModelVersion, Pair


def store_demo_verdicts(db: Database, version_name: str, dataset: str) -> int:
    """The shipped verdicts of the default judge on `dataset`'s demo pairs, stored as the judgments
    a fast judging run of `version_name` would make (the same options key: a later run skips
    them). Only where the version's head is the one they came from (its sha256), and only for
    pairs it has not judged; returns how many were stored."""
    path = SHIPPED / DEMO_VERDICTS
    if not path.is_file():
        return 0
    shipped = json.loads(path.read_text())
    run = JudgeRun(dataset, Protocol.LABEL_ONLY)
    with db.session() as session:
        version = session.scalars(select(ModelVersion).where(ModelVersion.name == version_name)).first()
        if version is None or not version.head_path or not is_head(Path(version.head_path)):
            return 0
        if file_sha256(Path(version.head_path) / HEAD_FILE) != shipped.get("head_sha256"):
            return 0  # another head: its verdicts are not these
        judged = select(Judgment.pair_id).where(Judgment.model_version_id == version.id)
        pairs = session.execute(
            select(Pair.id, Pair.prompt, Pair.response_a, Pair.response_b)
            .join(Dataset, Dataset.id == Pair.dataset_id)
            .where(Dataset.name == dataset, Pair.id.not_in(judged))
        ).all()
        stored = 0
        for pair_id, prompt, a, b in pairs:
            p = shipped["verdicts"].get(content_key(prompt, a, b))
            if not isinstance(p, float):
                continue
            label = verdict_for(p, shipped.get("undecided_within", 0.0))
            session.add(
                Judgment(
                    pair_id=pair_id,
                    model_version_id=version.id,
                    model=version.name,
                    backend=BackendName.TRANSFORMERS,
                    protocol=Protocol.LABEL_ONLY,
                    options_key=run.options_key(),
                    label=label,
                    confidence=max(p, 1 - p),
                    prob_a=p,
                    orders=[{"order": o, "prob_a": p, "label": label, "head": True} for o in (Order.AB, Order.BA)],
                    consistent=True,
                    timings={"shipped": 1},
                )
            )
            stored += 1
        return stored
