"""The embedded model's verdicts on the demo pairs, shipped with the demo, stored at a fresh
studio's first start so that it opens on judged pairs (benchmarks/demo_verdicts.py writes them).

They are what a fast judging run of the embedded model computes on a CPU, stored as that run
would store them (the same model version and options key, so a later run skips those pairs), and
only when the model in use is the one they came from.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from sqlalchemy import select

from core.data.identity import content_key
from core.judge.work import JudgeRun
from core.model.spec import ModelSpec
from core.model.versions import version_for
from core.vocab import BackendName, Protocol
from storage.database import Database
from storage.tables import Dataset, Judgment, Pair

DEMO_VERDICTS = Path(str(files("core.data") / "demo_data" / "fast_verdicts.json"))
RECORD_FIELDS = ("prob_a", "label", "confidence", "orders", "consistent")


def store_demo_verdicts(db: Database, spec: ModelSpec, dataset: str) -> int:
    """The shipped verdicts on `dataset`'s demo pairs, stored as judgments of `spec`'s version,
    where `spec` is the model they came from and only for pairs it has not judged; how many."""
    if not DEMO_VERDICTS.is_file() or spec.head or spec.adapter:
        return 0
    shipped = json.loads(DEMO_VERDICTS.read_text())
    if shipped.get("model") != spec.name:
        return 0  # another model: its verdicts are not these
    records = shipped.get("records") or {}
    options_key = JudgeRun(dataset, Protocol.LABEL_ONLY).options_key()  # what a fast run would record
    with db.session() as session:
        version = version_for(session, spec)
        judged = select(Judgment.pair_id).where(Judgment.model_version_id == version.id)
        pairs = session.execute(
            select(Pair.id, Pair.prompt, Pair.response_a, Pair.response_b)
            .join(Dataset, Dataset.id == Pair.dataset_id)
            .where(Dataset.name == dataset, Pair.id.not_in(judged))
        ).all()
        stored = 0
        for pair_id, prompt, a, b in pairs:
            record = records.get(content_key(prompt, a, b))
            if not isinstance(record, dict):
                continue
            session.add(
                Judgment(
                    pair_id=pair_id,
                    model_version_id=version.id,
                    model=spec.name,
                    backend=BackendName.TRANSFORMERS,
                    protocol=Protocol.LABEL_ONLY,
                    options_key=options_key,
                    timings={"shipped": 1},
                    **{field: record.get(field) for field in RECORD_FIELDS},
                )
            )
            stored += 1
        return stored
