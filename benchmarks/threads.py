"""The fast path on a quiet and on a busy machine, with torch's default threads (one per core)
against the threads the backend now chooses (the cores the load leaves free), in one run.

    .venv/bin/python benchmarks/threads.py [--pairs 8] [--burners N] [--out threads.json]

"Busy" is `--burners` processes (default: one per core) spinning in a loop, as other work on the
machine would. Each variant scores the same demo pairs (label-only, both orders) after a warm-up,
twice in alternation; the median is reported. Reports pairs/s, and the slowdown busy/quiet of each
thread choice.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path


def _spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--burners", type=int)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from core.backends.threads import free_threads, usable_cores
    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_pair_texts
    from core.head.fast_path import score_pairs
    from core.model.spec import resolve_model
    from core.settings import get_settings

    cores = usable_cores()
    burners = args.burners if args.burners is not None else cores
    pairs = demo_pair_texts(args.pairs)
    backend = TransformersBackend(resolve_model(get_settings()), threads=cores)
    score_pairs(backend, pairs[:1])  # warm-up

    def rate(threads: int) -> float:
        torch.set_num_threads(threads)
        started = time.perf_counter()
        score_pairs(backend, pairs)
        return len(pairs) / (time.perf_counter() - started)

    chosen = {"quiet": free_threads(busy=0.0), "busy": free_threads(busy=float(burners))}
    rows: dict[str, dict[str, float]] = {}
    for machine in ("quiet", "busy"):
        spinning = []
        if machine == "busy":
            spinning = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(burners)]
            for process in spinning:
                process.start()
            time.sleep(2)
        try:
            variants = {"default (one per core)": cores, "chosen": chosen[machine]}
            found: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.repeats):
                for name, threads in variants.items():
                    found[name].append(rate(threads))
            rows[machine] = {name: statistics.median(v) for name, v in found.items()}
            print(machine, json.dumps(rows[machine]), flush=True)
        finally:
            for process in spinning:
                process.terminate()
    backend.close()
    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cores} usable",
        "pairs": len(pairs),
        "burners": burners,
        "threads_chosen": chosen,
        "pairs_per_s": rows,
        "busy_slowdown": {name: rows["quiet"]["default (one per core)"] / rows["busy"][name] for name in rows["busy"]},
        "chosen_over_default_when_busy": rows["busy"]["chosen"] / rows["busy"]["default (one per core)"],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
