"""Train the default judge shipped with the package, and measure it against the untrained model.

The default judge is a judge head (core/head/classifier.py) on the embedded model, fitted on the
human-labelled pairs the project may ship: PandaLM (Apache-2.0) and LLMBar (MIT), ties left out.
It is measured on human-labelled pairs it never saw:
- every pair of the demo dataset (a PandaLM and an LLMBar sample that ships with the studio: the
  default judge must be honest on the pairs a new user sees first), and
- a quarter of the rest, chosen by a hash of the content (core/train/split.py's rule),
and on BIG-bench HHH, which is evaluation-only by its canary and a different source (out of
distribution). The untrained fast path judges the same pairs, so the comparison is paired.

The head is written to core/head/shipped_head/ only with --write, and only when it beats the
untrained model by at least --min-gain on the held-out pairs (issue 12's rule); the figures go to
--out and into that folder's README.

    .venv/bin/python benchmarks/default_judge.py --cache /tmp/default-judge.pt \\
        --out benchmarks/default-judge-<date>.json --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "common"
TRAIN_SOURCES = ("pandalm", "llmbar")  # licences allow shipping what is learnt from them
EVAL_ONLY = ("bigbench_hhh",)  # the canary: never trained on
HELD_OUT_SHARE = 0.25
PROBES = 12


def load(name: str, max_chars: int) -> list[dict[str, Any]]:
    """The source's A/B pairs (ties left out) of at most `max_chars` characters."""
    rows = [json.loads(line) for line in (SHARED / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    return [
        r
        for r in rows
        if r["label"] in ("A", "B") and len(r["prompt"]) + len(r["response_a"]) + len(r["response_b"]) <= max_chars
    ]


def read_pairs(backend, rows: list[dict[str, Any]], batch: int):  # noqa: ANN001, ANN201
    """(head features, untrained swap-averaged P(A)) per pair: the fast path's own two passes."""
    import torch
    from tqdm import tqdm

    from core.head.fast_path import score_pairs_and_features
    from core.text.pair import PairText

    features, probs = [], []
    for start in tqdm(range(0, len(rows), batch), desc="reading pairs", unit="batch"):
        texts = [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in rows[start : start + batch]]
        scores, found = score_pairs_and_features(backend, texts)
        features.append(found)
        probs += [s.prob_a for s in scores]
    return torch.cat(features), probs


def compared(untrained: list[float], head: list[float], labels: list[str]) -> dict[str, Any]:
    """Both models' figures on the same pairs, and the paired test."""
    from core.evaluation.comparison import compare
    from core.evaluation.metrics import Scored, is_correct
    from core.train.adaptation import figures_of
    from core.vocab import verdict_for

    def right(probs: list[float]) -> list[bool]:  # the evaluation's rule: an undecided pair is wrong
        return [
            is_correct(Scored(y, verdict_for(p), max(p, 1 - p), p, True)) for p, y in zip(probs, labels, strict=True)
        ]

    right_before, right_after = right(untrained), right(head)
    return {
        "untrained": figures_of(untrained, labels, [True] * len(labels)),
        "default_judge": figures_of(head, labels, [True] * len(labels)),
        "paired": compare(right_before, right_after).as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-chars", type=int, default=4000, help="longest pair used (CPU time)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--min-gain", type=float, default=0.05, help="held-out points over untrained to ship")
    parser.add_argument("--cache", type=Path, help="keep the pairs' features here, and reuse them")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write", action="store_true", help="write the head into core/head/shipped_head/")
    args = parser.parse_args()

    import torch

    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_rows
    from core.data.identity import content_key
    from core.head.classifier import HEAD_POOLS, fit_head, head_layers
    from core.head.default_judge import FIGURES, SHIPPED, TRAIN_KEYS, describe
    from core.model.spec import resolve_model
    from core.settings import get_settings
    from core.train.split import is_held_out

    def key_of(row: dict[str, Any]) -> str:
        return content_key(row["prompt"], row["response_a"], row["response_b"])

    demo = {key_of(r) for r in demo_rows()}
    rows = [r | {"set": name} for name in TRAIN_SOURCES + EVAL_ONLY for r in load(name, args.max_chars)]

    for r in rows:
        key = key_of(r)
        r["in_demo"] = key in demo
        r["side"] = (
            "eval-only"
            if r["set"] in EVAL_ONLY
            else "held-out"
            if r["in_demo"] or is_held_out(key, HELD_OUT_SHARE)
            else "train"
        )
    backend = TransformersBackend(resolve_model(get_settings()), batch_size=args.batch)
    started = time.perf_counter()
    if args.cache and args.cache.exists() and torch.load(args.cache)["pairs"] == len(rows):
        features, untrained, read_s = torch.load(args.cache)["values"]
    else:
        features, untrained = read_pairs(backend, rows, args.batch)
        read_s = time.perf_counter() - started
        if args.cache:
            torch.save({"pairs": len(rows), "values": (features, untrained, read_s)}, args.cache)
    train = [i for i, r in enumerate(rows) if r["side"] == "train"]
    started = time.perf_counter()
    layers = head_layers(backend.num_layers)
    head = fit_head(features[train], [rows[i]["label"] for i in train], layers, HEAD_POOLS)
    fit_s = time.perf_counter() - started
    probs = head.prob_a(features).tolist()

    def on(picked: list[int]) -> dict[str, Any]:
        labels = [rows[i]["label"] for i in picked]
        return compared([untrained[i] for i in picked], [probs[i] for i in picked], labels)

    held = [i for i, r in enumerate(rows) if r["side"] == "held-out"]
    results = {
        "held_out": on(held),
        **{f"held_out {name}": on([i for i in held if rows[i]["set"] == name]) for name in TRAIN_SOURCES},
        "held_out demo": on([i for i in held if rows[i]["in_demo"]]),
        **{name: on([i for i, r in enumerate(rows) if r["set"] == name]) for name in EVAL_ONLY},
        "train (not a test)": on(train),
    }
    gain = results["held_out"]["default_judge"]["accuracy"] - results["held_out"]["untrained"]["accuracy"]
    report = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "model": backend.spec.name,
        "max_chars": args.max_chars,
        "pairs": {side: sum(r["side"] == side for r in rows) for side in ("train", "held-out", "eval-only")},
        "demo_pairs_held_out": sum(r["in_demo"] for r in rows),
        "read_seconds_per_pair": read_s / len(rows),
        "fit_seconds": fit_s,
        "l2": head.l2,
        "gain": gain,
        "shipped": args.write and gain >= args.min_gain,
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    for name, r in results.items():
        paired = r["paired"]
        print(
            f"{name:24} n={paired['n']:4}  untrained {paired['before']:.3f}  default judge {paired['after']:.3f} "
            f"({paired['after_ci'][0]:.2f}-{paired['after_ci'][1]:.2f})  fixed {paired['fixed']} broken "
            f"{paired['broken']}  p={paired['p_value']:.2g}"
        )
    print(f"gain on held-out: {gain:+.3f} (ship at {args.min_gain:+.2f} or more)")
    if report["shipped"]:
        held_out = results["held_out"]
        metrics = {
            "before": held_out["untrained"],
            "after": held_out["default_judge"],
            "comparison": held_out["paired"],
            "train_pairs": len(train),
            "held_out_pairs": len(held),
        }
        keys = sorted({key_of(rows[i]) for i in train})
        shutil.rmtree(SHIPPED, ignore_errors=True)
        head.save(SHIPPED)
        # A few held-out demo pairs with the head's P(A): tests/test_default_judge.py recomputes them
        # through the fast path, so a change to the features cannot leave the shipped head guessing.
        probes = list({key_of(rows[i]): probs[i] for i in held if rows[i]["in_demo"]}.items())[:PROBES]
        shipped = {"metrics": metrics, "sources": list(TRAIN_SOURCES), "probes": probes}
        (SHIPPED / FIGURES).write_text(json.dumps(shipped, indent=1))
        (SHIPPED / TRAIN_KEYS).write_text(json.dumps(keys))
        (SHIPPED / "README.md").write_text(describe(report))
        print(f"wrote {SHIPPED}")


if __name__ == "__main__":
    main()
