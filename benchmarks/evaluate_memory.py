"""Peak memory (RSS) of `gram evaluate --file` at two file sizes, each in a fresh process.

    .venv/bin/python benchmarks/evaluate_memory.py [--sizes 100 900] [--out memory.json]

The file holds the first N labelled demo pairs (LLMBar then PandaLM: 892 in all, repeated past
that), judged on the fast path with the embedded model. The ratio of the two peaks is what
streaming must keep small: the model is the same, only the pairs grow.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from core.data.demo import demo_paths


def write_pairs(path: Path, count: int) -> None:
    rows = [line for p in demo_paths() for line in p.read_text().splitlines() if json.loads(line)["label"] in "AB"]
    path.write_text("".join(f"{line}\n" for line in itertools.islice(itertools.cycle(rows), count)))


def run(path: Path) -> dict[str, float]:
    """One `gram evaluate --file PATH --fast --json` in a fresh process: its peak RSS and time."""
    command = [sys.executable, "-m", "app.cli", "evaluate", "--file", str(path), "--fast", "--json"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"gram evaluate failed on {path} (status {status})")
    figures = json.loads(output)
    return {
        "pairs": figures["n"],
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
        "seconds": time.perf_counter() - started,
        "accuracy": figures["accuracy"],
        "undecided": figures["undecided"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100, 900])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            path = Path(folder) / f"pairs-{size}.jsonl"
            write_pairs(path, size)
            rows.append(run(path))
            print(json.dumps(rows[-1]), flush=True)
    ratio = rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"peak RSS {rows[1]['pairs']} vs {rows[0]['pairs']} pairs: {ratio:.2f}x")
    if args.out:
        meta = {
            "date": str(date.today()),
            "machine": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        }
        args.out.write_text(json.dumps({"meta": meta, "rows": rows, "ratio": ratio}, indent=1))


if __name__ == "__main__":
    main()
