"""The fast path against the machine's limit for this model: prefill tokens/s, in one run.

The roofline is what the hardware allows for prefill with this model and these threads: the
tokens/s of long forward passes with no padding and no Python around them (the best of a few
shapes: one sequence of 2,048 tokens, four of 512). The fast path's figure is the tokens its
prompts hold (the label-only prompt in both orders, as judging sends them) divided by the wall
time of `score_pairs` on the same pairs: everything judging does (building prompts, padding,
batches, the shared-prefix reuse, reading the slot) is inside it. The ratio of the two is the
share of the roofline the fast path reaches; issue 28 asks for at least 0.7. Shared-prefix reuse
skips tokens the two orders share, so the ratio can exceed 1; the run measures it a second time
with the reuse off, every token computed, which is the share of the machine's work.

    .venv/bin/python benchmarks/roofline.py [--pairs 48] [--batch 8] [--out benchmarks/roofline-<date>-cpu2.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

SHAPES = ((1, 2048), (4, 512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_pair_texts
    from core.head.fast_path import fast_slots, score_pairs
    from core.model.spec import resolve_model
    from core.settings import get_settings
    from core.vocab import Order

    backend = TransformersBackend(resolve_model(get_settings()), batch_size=args.batch)
    model, tokenizer = backend.model, backend.tokenizer
    pairs = demo_pair_texts(args.pairs)

    def prefill(batch: int, length: int) -> float:
        ids = torch.randint(100, 20_000, (batch, length), device=backend.device)
        with torch.inference_mode():
            model(input_ids=ids)  # warm
            started = time.perf_counter()
            for _ in range(args.repeats):
                model(input_ids=ids)
        return batch * length * args.repeats / (time.perf_counter() - started)

    roofline = {f"{b}x{n}": prefill(b, n) for b, n in SHAPES}
    best = max(roofline.values())
    slots = fast_slots(backend, pairs, [Order.AB, Order.BA])
    prompt_tokens = sum(len(tokenizer(slot.text, add_special_tokens=False)["input_ids"]) for slot in slots)
    score_pairs(backend, pairs[: args.batch])  # warm

    def timed() -> float:
        started = time.perf_counter()
        for _ in range(args.repeats):
            score_pairs(backend, pairs)
        return (time.perf_counter() - started) / args.repeats

    seconds = timed()
    backend.reuse_prefix = False  # every token of every prompt computed: the work against the roofline
    unshared_seconds = timed()
    backend.reuse_prefix = True
    fast = prompt_tokens / seconds
    unshared = prompt_tokens / unshared_seconds
    report = {
        "date": date.today().isoformat(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "model": backend.spec.name,
        "precision": backend.precision,
        "pairs": len(pairs),
        "prompt_tokens_both_orders": prompt_tokens,
        "roofline_tokens_per_s": roofline,
        "fast_path_seconds": seconds,
        "fast_path_tokens_per_s": fast,
        "fast_path_pairs_per_s": len(pairs) / seconds,
        "share_of_roofline": fast / best,
        "without_shared_prefix_seconds": unshared_seconds,
        "without_shared_prefix_share_of_roofline": unshared / best,
    }
    for shape, rate in roofline.items():
        print(f"roofline {shape}: {rate:,.0f} tokens/s")
    print(
        f"fast path: {len(pairs)} pairs, {prompt_tokens:,} prompt tokens in both orders, {seconds:.1f} s: "
        f"{fast:,.0f} tokens/s = {fast / best:.2f} of the roofline ({len(pairs) / seconds:.2f} pairs/s)"
    )
    print(
        f"without the shared prefix (every token computed): {unshared_seconds:.1f} s, {unshared:,.0f} tokens/s = "
        f"{unshared / best:.2f} of the roofline"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
