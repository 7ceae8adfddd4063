"""Task adaptation on the demo data: time per example and held-out accuracy after N reviewed pairs.

A person's reviews are simulated by accepting the reference label of N demo pairs (no rationale,
so with --objective label-only they train GRAM's label-only target). Every run uses the same
held-out pairs: the first --held-out labelled demo pairs that the fixed content-hash split puts on
the held-out side; the N training pairs are the first N on the training side. Each run starts
from the embedded model in a fresh data folder, and reports the adaptation job's before/after
figures (fast path, both orders) on the held-out pairs.

    .venv/bin/python benchmarks/adapt_demo.py --sizes 32 128 --out benchmarks/adapt-<date>.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def run(size: int, held_out: int, args: argparse.Namespace) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"gram-adapt-{size}-"))
    os.environ["GRAM_HOME"] = str(home)
    from sqlalchemy import select

    from core.data.demo import seed_demo
    from core.data.identity import content_key
    from core.review.reviews import save_review
    from core.settings import get_settings
    from core.train.adaptation import run_adaptation, start_adaptation
    from core.train.config import AdaptConfig, TrainConfig
    from core.train.split import is_held_out
    from storage.database import Database
    from storage.tables import Pair

    get_settings.cache_clear()
    settings = get_settings()
    db = Database(settings.database_url)
    with db.session() as session:
        seed_demo(session, settings)
        labelled = session.scalars(select(Pair).where(Pair.reference_label.in_(("A", "B"))).order_by(Pair.id)).all()
        side = {p.id: is_held_out(content_key(p.prompt, p.response_a, p.response_b), args.holdout) for p in labelled}
        chosen = [p for p in labelled if side[p.id]][:held_out] + [p for p in labelled if not side[p.id]][:size]
        for pair in chosen:
            save_review(session, pair.id, reviewer="benchmark", label=pair.reference_label)
    train = TrainConfig(
        objective="label-only",
        max_length=args.max_length,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        save_steps=1000,
        val_fraction=0.0,
    )
    config = AdaptConfig(dataset="demo", holdout_fraction=args.holdout, prove_missing=False, train=train)
    started = time.perf_counter()
    job = run_adaptation(db, settings, start_adaptation(db, settings, config), show_progress=False)
    result = job.result
    if job.status != "succeeded":
        raise SystemExit(f"adaptation failed: {job.error}")
    training = result["training"]
    return {
        "reviewed_pairs": size,
        "held_out_pairs": result["held_out_pairs"],
        "examples": training["examples"],
        "steps": training["steps"],
        "train_seconds": training["seconds"],
        "seconds_per_example": training["seconds"] / max(training["examples"], 1) / max(args.epochs, 1e-9),
        "job_seconds": time.perf_counter() - started,
        "first_loss": training["losses"][0][1],
        "last_loss": training["losses"][-1][1],
        "before": result["before"],
        "after": result["after"],
        "fixed": len(result["fixed"]),
        "broken": len(result["broken"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--held-out", type=int, default=40)
    parser.add_argument("--holdout", type=float, default=0.25)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = [run(size, args.held_out, args) for size in args.sizes]
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "settings": vars(args) | {"out": str(args.out) if args.out else None},
        "runs": results,
    }
    for r in results:
        b, a = r["before"]["figures"], r["after"]["figures"]
        print(
            f"{r['reviewed_pairs']:4} reviewed: {r['seconds_per_example']:.1f} s/example, loss {r['first_loss']:.3f}"
            f" -> {r['last_loss']:.3f}; held-out accuracy {b['accuracy']:.3f} -> {a['accuracy']:.3f}, "
            f"consistency {b['position_consistency']:.3f} -> {a['position_consistency']:.3f}, "
            f"ECE {b['ece']:.3f} -> {a['ece']:.3f} (n={a['n']}; fixed {r['fixed']}, broken {r['broken']})"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
