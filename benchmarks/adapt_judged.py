"""How long the default recipe (a judge head) takes to adapt on 64 reviewed pairs of a dataset the
active model already judged on the fast path, as a studio user meets it; and on the same pairs
not judged first, in one run.

    .venv/bin/python benchmarks/adapt_judged.py [--train 64] [--held-out 20] [--out adapt-judged.json]

In a fresh data folder: the demo dataset and the default judge active (as at the studio's first
start). `--train` pairs the fixed content-hash split keeps for training and `--held-out` on the
held-out side, reviewed by accepting their reference labels. Variant "judged": those pairs are
judged on the fast path first (their features kept), then adapted; variant "not judged": the
kept features are removed and the same adaptation runs again. Reports each job's seconds and
how many features it found kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=64)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--holdout", type=float, default=0.25)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ["GRAM_HOME"] = tempfile.mkdtemp(prefix="gram-adapt-judged-")

    from sqlalchemy import delete, select

    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import seed_demo
    from core.data.identity import content_key
    from core.head.default_judge import install_default_judge
    from core.judge.run import run_judging
    from core.judge.work import JudgeRun
    from core.model.versions import active_version, spec_of
    from core.review.reviews import save_review
    from core.settings import get_settings
    from core.store import open_store
    from core.train.adaptation import run_adaptation, start_adaptation
    from core.train.config import AdaptConfig, TrainConfig
    from core.train.split import is_held_out
    from storage.tables import Judgment, Pair, PairFeature

    settings = get_settings()
    db = open_store(settings)
    with db.session() as session:
        seed_demo(session, settings)
    install_default_judge(db, settings)
    with db.session() as session:
        active = spec_of(active_version(session))  # type: ignore[arg-type]
        labelled = session.scalars(select(Pair).where(Pair.reference_label.in_(("A", "B"))).order_by(Pair.id)).all()
        side = {p.id: is_held_out(content_key(p.prompt, p.response_a, p.response_b), args.holdout) for p in labelled}
        chosen = [p for p in labelled if side[p.id]][: args.held_out] + [p for p in labelled if not side[p.id]][
            : args.train
        ]
        for pair in chosen:
            save_review(session, pair.id, reviewer="benchmark", label=pair.reference_label)
        chosen_ids = [p.id for p in chosen]
        chars = [len(p.prompt) + len(p.response_a) + len(p.response_b) for p in chosen]

    # The studio's judging of the dataset, for the reviewed pairs (a job over exactly them).
    backend = TransformersBackend(active)
    started = time.perf_counter()
    run_judging(db, backend, JudgeRun("demo", protocol="label-only", limit=max(chosen_ids)), show_progress=False)
    judging_s = time.perf_counter() - started
    backend.close()

    rows: dict[str, Any] = {}
    for variant in ("judged", "not judged"):
        if variant == "not judged":
            with db.session() as session:
                session.execute(delete(PairFeature))
                session.execute(delete(Judgment).where(Judgment.pair_id.in_(chosen_ids)))
        config = AdaptConfig("demo", args.holdout, prove_missing=False, train=TrainConfig(method="head"))
        started = time.perf_counter()
        job = run_adaptation(db, settings, start_adaptation(db, settings, config), show_progress=False)
        seconds = time.perf_counter() - started
        if job.status != "succeeded":
            raise SystemExit(f"adaptation failed: {job.error}")
        result = job.result or {}
        training = result.get("training", {})
        rows[variant] = {
            "seconds": round(seconds, 1),
            "train_pairs": result.get("train_pairs"),
            "held_out_pairs": result.get("held_out_pairs"),
            "features_kept": training.get("kept"),
            "features_s": round(training.get("features_s", 0.0), 1),
            "after_accuracy": result["after"]["figures"].get("accuracy"),
        }
        print(variant, json.dumps(rows[variant]), flush=True)
    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "parent": active.name,
        "reviewed": len(chosen_ids),
        "longest_pair_chars": max(chars),
        "judging_first_s": round(judging_s, 1),
        "adaptation": rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
