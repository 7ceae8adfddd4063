"""Judge the same pairs with each backend and batch size in one run; print pairs/s, tokens/s, ratios.

    .venv/bin/python benchmarks/judge_speed.py [--pairs 32] [--max-new-tokens 128] [--out results.json]

Generative path: GRAM-R² prompts, greedy, the same `--max-new-tokens` everywhere; generated
tokens/s counts what each backend actually generated. Fast path: the label-only protocol,
both orders. Ratios are against transformers with one prompt at a time, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

from core.backends import load_backend
from core.data.demo import demo_paths
from core.head.fast_path import score_pairs
from core.judge.generative import JudgeOptions, judge_pairs
from core.model.spec import resolve_model
from core.settings import get_settings
from core.text.pair import PairText


def demo_pairs(count: int) -> list[PairText]:
    """The first `count` PandaLM demo pairs (short, real, human-labelled)."""
    rows = [json.loads(line) for line in demo_paths()[1].read_text().splitlines()][:count]
    return [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in rows]


def measure(backend, pairs: list[PairText], options: JudgeOptions, fast: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    if fast:
        score_pairs(backend, pairs, both_orders=True)
        tokens = 0
    else:
        tokens = sum(j.timings["tokens"] for j in judge_pairs(backend, pairs, options))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "pairs_per_s": len(pairs) / seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--min-new-tokens",
        type=int,
        default=0,
        help="Make every rationale at least this long (the base model stops sooner than a "
        "trained GRAM-R² model, whose rationales run to hundreds of tokens).",
    )
    parser.add_argument("--transformers-batches", default="1,8,32", help="'none' skips transformers.")
    parser.add_argument(
        "--vllm-batches", default="32", help="vLLM schedules its own batches; this is the request size."
    )
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    pairs = demo_pairs(args.pairs)
    options = JudgeOptions(max_new_tokens=args.max_new_tokens, min_new_tokens=args.min_new_tokens)
    spec = resolve_model(get_settings())
    rows: list[dict[str, object]] = []

    def run(name: str, backend, batch: int) -> None:  # type: ignore[no-untyped-def]
        judge_pairs(backend, pairs[:1], JudgeOptions(max_new_tokens=4))  # warm-up, not timed
        for fast in (False, True):
            # vLLM takes all prompts at once and batches them itself; transformers by `batch`.
            figures = measure(backend, pairs, options, fast)
            rows.append({"backend": name, "batch": batch, "path": "fast" if fast else "generative", **figures})
            print(json.dumps(rows[-1]), flush=True)

    for batch in [int(b) for b in args.transformers_batches.split(",") if b.strip() not in ("", "none")]:
        backend = load_backend("transformers", spec, batch_size=batch)
        run("transformers", backend, batch)
        backend.close()
    if not args.skip_vllm:
        started = time.perf_counter()
        backend = load_backend("vllm", spec, max_model_len=4096)
        print(f"vLLM start-up: {time.perf_counter() - started:.0f} s", flush=True)
        for batch in [int(b) for b in args.vllm_batches.split(",")]:
            run("vllm", backend, batch)
        backend.close()

    # The baseline is transformers at batch 1 when measured; else the first row of each path.
    base = next((r for r in rows if r["batch"] == 1 and r["path"] == "generative"), rows[0])
    base_fast = next((r for r in rows if r["batch"] == 1 and r["path"] == "fast"), rows[1])
    print(
        f"\n{args.pairs} pairs, {args.min_new_tokens}-{args.max_new_tokens} new tokens, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, {date.today()}"
    )
    print("| backend | batch | path | pairs/s | generated tokens/s | vs transformers batch 1 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ref = base if r["path"] == "generative" else base_fast
        metric = "tokens_per_s" if r["path"] == "generative" else "pairs_per_s"
        ratio = r[metric] / ref[metric] if ref[metric] else float("nan")
        tokens = f"{r['tokens_per_s']:.1f}" if r["path"] == "generative" else "-"
        print(f"| {r['backend']} | {r['batch']} | {r['path']} | {r['pairs_per_s']:.2f} | {tokens} | {ratio:.1f}x |")
    best = {}
    for r in rows:
        key = (r["backend"], r["path"])
        metric = "tokens_per_s" if r["path"] == "generative" else "pairs_per_s"
        if key not in best or r[metric] > best[key][metric]:
            best[key] = r
    if ("vllm", "generative") in best and ("transformers", "generative") in best:
        ratio = best[("vllm", "generative")]["tokens_per_s"] / best[("transformers", "generative")]["tokens_per_s"]
        print(f"\nvLLM best / transformers best, generated tokens/s: {ratio:.2f}x")
    for name in ("transformers", "vllm"):
        if (name, "fast") in best:
            ratio = best[(name, "fast")]["pairs_per_s"] / best[(name, "generative")]["pairs_per_s"]
            print(f"{name}: fast path / generative path, pairs/s: {ratio:.1f}x")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
