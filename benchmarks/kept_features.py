"""A head version judging pairs whose features are kept, against the same run reading them with
the model (what judging did before features served every head of a base model), in one run.

    .venv/bin/python benchmarks/kept_features.py [--pairs 24] [--out kept.json]

In a fresh data folder: the demo dataset; `--pairs` of its pairs judged on the fast path by the
embedded model (their features kept); a head fitted on their reference labels from those
features (no model); then the head version judges the same pairs twice, first from the kept
features, then with the features and its judgments removed, so the model reads every pair again.
Also times fitting the head's features from the store against reading them all. Reports seconds,
the ratio, and the largest |ΔP(A)| between the two runs (the kept features are float16).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ["GRAM_HOME"] = tempfile.mkdtemp(prefix="gram-kept-")

    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import seed_demo
    from core.head.fitting import head_features, train_head
    from core.judge.run import run_judging
    from core.judge.work import JudgeRun
    from core.model.spec import resolve_model
    from core.settings import get_settings
    from core.store import open_store
    from core.text.pair import PairText
    from storage.tables import Judgment, Pair, PairFeature

    settings = get_settings()
    db = open_store(settings)
    with db.session() as session:
        seed_demo(session, settings)
    base = resolve_model(settings)
    run = JudgeRun("demo", protocol="label-only", limit=args.pairs)
    backend = TransformersBackend(base)
    started = time.perf_counter()
    run_judging(db, backend, run, show_progress=False)
    base_s = time.perf_counter() - started
    backend.close()
    with db.session() as session:
        pairs = session.scalars(
            select(Pair).join(Judgment, Judgment.pair_id == Pair.id).where(Pair.reference_label.in_(["A", "B"]))
        ).all()
        ids, texts, labels = [p.id for p in pairs], [PairText.of(p) for p in pairs], [p.reference_label for p in pairs]
    head_dir = Path(settings.models_dir) / "heads" / "bench"
    fitted = train_head(db, base, ids, texts, labels, head_dir)  # from the kept features: no model

    with_head = replace(base, name=f"{base.name}-head", head=str(head_dir))
    timings: dict[str, float] = {}
    probs: dict[str, dict[int, float]] = {}
    for variant in ("kept features", "model reads every pair"):
        if variant == "model reads every pair":
            with db.session() as session:
                session.execute(delete(Judgment).where(Judgment.model == with_head.name))
                session.execute(delete(PairFeature))
        backend = TransformersBackend(with_head)  # loaded outside the timing, as a worker would be
        started = time.perf_counter()
        run_judging(db, backend, run, show_progress=False)
        timings[variant] = time.perf_counter() - started
        backend.close()
        with db.session() as session:
            found = session.execute(
                select(Judgment.pair_id, Judgment.prob_a).where(Judgment.model == with_head.name)
            ).all()
            probs[variant] = {pair_id: prob for pair_id, prob in found}
    kept, read = probs["kept features"], probs["model reads every pair"]
    started = time.perf_counter()
    head_features(db, base, ids, texts)  # all kept again now (the second run kept them)
    features_kept_s = time.perf_counter() - started
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "pairs": len(kept),
        "base_judging_s": round(base_s, 2),
        "head_judging_s": {k: round(v, 3) for k, v in timings.items()},
        "ratio": round(timings["model reads every pair"] / timings["kept features"], 1),
        "max_abs_delta_p": max(abs(kept[i] - read[i]) for i in kept),
        "labels_differ": sum((kept[i] > 0.5) != (read[i] > 0.5) for i in kept),
        "head_fit_features_s": {"kept (at fit)": round(fitted["features_s"], 3), "kept (again)": features_kept_s},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
