"""Adaptation recipes compared through the real job (`gram adapt`), on one learnable criterion.

A learnable criterion (core/evaluation/criteria.py: real PandaLM and LLMBar pairs relabelled by a
visible property, balanced on position and length) is imported as a dataset; a person's reviews
are simulated by accepting the criterion's label on --train pairs of the training side of the
job's fixed content-hash split and --held-out pairs of its held-out side. Each recipe then runs
as `gram adapt` would (core/train/adaptation.py), from the embedded model, in a fresh data
folder, and reports the job's own before/after on the same held-out pairs (fast path, both
orders): accuracy with its 95% interval, position consistency, ECE, fixed/broken and McNemar's p,
and the wall time of the whole job.

    .venv/bin/python benchmarks/adapt_sweep.py --recipes head lora lora-strong lora-strong-noswap \\
        --out benchmarks/sweep-<date>.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "common"

# Each recipe: TrainConfig fields over the label-only objective (simulated reviews carry no
# rationale), batch 4, no validation pass, one save at the end.
STRONG = {"method": "lora", "lora_r": 16, "learning_rate": 1e-3, "epochs": 2.0}
RECIPES: dict[str, dict[str, Any]] = {
    "head": {"method": "head"},
    "lora": {"method": "lora", "lora_r": 16, "learning_rate": 2e-4, "epochs": 1.0},
    "lora-strong": {"method": "lora", "lora_r": 16, "learning_rate": 1e-3, "epochs": 2.0},
    "lora-strong-noswap": {"method": "lora", "lora_r": 16, "learning_rate": 1e-3, "epochs": 2.0, "swap_augment": False},
    "lora-strong-nosmooth": {
        "method": "lora",
        "lora_r": 16,
        "learning_rate": 1e-3,
        "epochs": 2.0,
        "label_smoothing": 0.0,
    },
    "lora-r64": {"method": "lora", "lora_r": 64, "learning_rate": 1e-3, "epochs": 2.0},
}


def criterion_rows(name: str, max_chars: int) -> list[dict[str, str]]:
    """The criterion's balanced pairs from the shared PandaLM and LLMBar pairs, as rows to import."""
    from core.evaluation import criteria
    from core.text.pair import PairText

    paths = [SHARED / f"{source}.jsonl" for source in ("pandalm", "llmbar")]
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
    texts = [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in rows]
    return criteria.criterion_rows(name, texts, max_chars)


def run(recipe: str, rows: list[dict[str, str]], args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"gram-sweep-{recipe}-"))
    os.environ["GRAM_HOME"] = str(home)
    from sqlalchemy import select

    from core.data.identity import content_key
    from core.data.importer import import_files
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
    source = home / f"{args.criterion}.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with db.session() as session:
        import_files(session, [source], dataset=args.criterion, max_bytes=2**30, max_chars=200_000)
        pairs = session.scalars(select(Pair).order_by(Pair.id)).all()
        side = {p.id: is_held_out(content_key(p.prompt, p.response_a, p.response_b), args.holdout) for p in pairs}
        chosen = [p for p in pairs if side[p.id]][: args.held_out] + [p for p in pairs if not side[p.id]][: args.train]
        for pair in chosen:
            save_review(session, pair.id, reviewer="benchmark", label=pair.reference_label)
    train = TrainConfig(
        objective="label-only",
        max_length=args.max_length,
        batch_size=4,
        save_steps=100_000,
        val_fraction=0.0,
        **RECIPES[recipe],
    )
    config = AdaptConfig(dataset=args.criterion, holdout_fraction=args.holdout, prove_missing=False, train=train)
    started = time.perf_counter()
    job = run_adaptation(db, settings, start_adaptation(db, settings, config), show_progress=False)
    if job.status != "succeeded":
        raise SystemExit(f"{recipe}: adaptation failed: {job.error}")
    result = job.result
    training = result["training"]
    return {
        "recipe": recipe,
        "config": RECIPES[recipe],
        "reviewed_pairs": args.train,
        "held_out_pairs": result["held_out_pairs"],
        "job_seconds": time.perf_counter() - started,
        "steps": training.get("steps"),
        "losses": training.get("losses"),
        "before": result["before"]["figures"],
        "after": result["after"]["figures"],
        "comparison": result["comparison"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=["head", "lora", "lora-strong"])
    parser.add_argument("--criterion", default="numbers")
    parser.add_argument("--train", type=int, default=64)
    parser.add_argument("--held-out", type=int, default=40)
    parser.add_argument("--holdout", type=float, default=0.25)
    parser.add_argument("--max-chars", type=int, default=1500, help="longest pair used (CPU time)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = criterion_rows(args.criterion, args.max_chars)
    results = []
    for recipe in args.recipes:
        results.append(run(recipe, rows, args))
        r = results[-1]
        b, a, c = r["before"], r["after"], r["comparison"]
        print(
            f"{recipe:22} {r['job_seconds']:6.0f} s  held-out {b['accuracy']:.3f} -> {a['accuracy']:.3f} "
            f"(95% CI {a['accuracy_ci'][0]:.2f}-{a['accuracy_ci'][1]:.2f}, n={a['n']}), consistency "
            f"{b['position_consistency']:.2f} -> {a['position_consistency']:.2f}, "
            f"ECE {b['ece']:.3f} -> {a['ece']:.3f}, "
            f"fixed {c['fixed']} broken {c['broken']} p={c['p_value']:.2g}",
            flush=True,
        )
        report = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
            "settings": vars(args) | {"out": str(args.out) if args.out else None},
            "runs": results,
        }
        if args.out:  # after each recipe: a long sweep cut short keeps what it measured
            args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
