"""The transformers fast path with and without shared-prefix reuse, on the same pairs, in one run.

    .venv/bin/python benchmarks/prefix_reuse.py [--pairs 48] [--batch 8] [--repeats 2] [--out reuse.json]

One model, switched between the two variants (`backend.reuse_prefix`), each timed `--repeats`
times in alternation (the median is reported), on two paths: the label-only fast path
(`score_pairs`) and the fast path that also keeps each pair's judge-head features
(`score_pairs_and_features`, what judging a dataset runs; its pools stop the shared prefix at the
responses). Reports pairs/s, the ratio, the largest |ΔP(A)| in any order and how many labels differ.
The pairs are the demo's, half LLMBar and half PandaLM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from core.backends.transformers_backend import TransformersBackend
from core.data.demo import demo_pair_texts
from core.head.fast_path import FastScore, score_pairs, score_pairs_and_features
from core.model.spec import resolve_model
from core.settings import get_settings


def timed(run: Callable[[], list[FastScore]]) -> tuple[float, list[FastScore]]:
    started = time.perf_counter()
    scores = run()
    return time.perf_counter() - started, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    pairs = demo_pair_texts(args.pairs)
    backend = TransformersBackend(resolve_model(get_settings()), batch_size=args.batch)
    paths: dict[str, Callable[[], list[FastScore]]] = {
        "label-only": lambda: score_pairs(backend, pairs),
        "with head features": lambda: score_pairs_and_features(backend, pairs)[0],
    }
    rows: list[dict[str, Any]] = []
    for path, run in paths.items():
        seconds: dict[bool, list[float]] = {False: [], True: []}
        scores: dict[bool, list[FastScore]] = {}
        for reuse in (False, True):  # warm-up, not timed
            backend.reuse_prefix = reuse
            score_pairs(backend, pairs[:2])
        for _ in range(args.repeats):
            for reuse in (False, True):
                backend.reuse_prefix = reuse
                took, scores[reuse] = timed(run)
                seconds[reuse].append(took)
        plain, reused = statistics.median(seconds[False]), statistics.median(seconds[True])
        gaps = [
            abs(a["prob_a"] - b["prob_a"])
            for x, y in zip(scores[False], scores[True], strict=True)
            for a, b in zip(x.orders, y.orders, strict=True)
        ]
        rows.append(
            {
                "path": path,
                "pairs": len(pairs),
                "batch": args.batch,
                "shared_tokens": len(backend._prefix._ids),
                "pairs_per_s_without": len(pairs) / plain,
                "pairs_per_s_with": len(pairs) / reused,
                "speedup": plain / reused,
                "max_abs_diff_prob_a": max(gaps),
                "labels_differ": sum(x.label != y.label for x, y in zip(scores[False], scores[True], strict=True)),
                "seconds": {"without": seconds[False], "with": seconds[True]},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    backend.close()

    print(f"\n{len(pairs)} demo pairs, batch {args.batch}, {os.cpu_count()} cores, {date.today()}")
    print("| path | shared tokens | pairs/s without | pairs/s with | speed-up | max abs ΔP(A) | labels differ |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['path']} | {r['shared_tokens']} | {r['pairs_per_s_without']:.2f} | {r['pairs_per_s_with']:.2f} "
            f"| {r['speedup']:.2f}x | {r['max_abs_diff_prob_a']:.1e} | {r['labels_differ']} of {r['pairs']} |"
        )
    if args.out:
        meta = {
            "date": str(date.today()),
            "machine": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        }
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
