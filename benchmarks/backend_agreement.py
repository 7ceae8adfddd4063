"""Fast-path P(A) of each backend and precision against transformers in float32, on the same pairs.

    .venv/bin/python benchmarks/backend_agreement.py [--pairs 48] [--skip-vllm] [--out agreement.json]

For each variant: the largest and the mean |P(A) - P_fp32(A)| (swap-averaged and per order), how
many labels differ from the reference under the plain rule (P >= 0.5 -> A), how many P(A) are
exactly 0.5, and how many fall within the precision's stated tolerance of 0.5 (undecided,
core/backends/precision.py). The pairs are the demo's, half LLMBar and half PandaLM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import date
from pathlib import Path

from core.backends import load_backend
from core.backends.precision import TOLERANCE, tolerance_of
from core.data.demo import demo_pair_texts
from core.head.fast_path import score_pairs
from core.model.spec import resolve_model
from core.settings import get_settings
from core.text.pair import PairText


def probabilities(name: str, dtype: str, pairs: list[PairText]) -> list[list[float]]:
    """For each pair: the swap-averaged P(A), then P(A) in each order."""
    options = {"max_model_len": 4096} if name == "vllm" else {}
    backend = load_backend(name, resolve_model(get_settings()), dtype=dtype, **options)
    try:
        return [[s.prob_a, *(o["prob_a"] for o in s.orders)] for s in score_pairs(backend, pairs)]
    finally:
        backend.close()


def compare(reference: list[list[float]], probs: list[list[float]], tolerance: float) -> dict[str, float]:
    gaps = [abs(p - r) for ps, rs in zip(probs, reference, strict=True) for p, r in zip(ps, rs, strict=True)]
    averaged = [abs(ps[0] - rs[0]) for ps, rs in zip(probs, reference, strict=True)]
    return {
        "max_abs_diff": max(gaps),
        "max_abs_diff_averaged": max(averaged),
        "mean_abs_diff_averaged": sum(averaged) / len(averaged),
        "labels_differ": sum((p[0] >= 0.5) != (r[0] >= 0.5) for p, r in zip(probs, reference, strict=True)),
        "exactly_half": sum(p[0] == 0.5 for p in probs),
        "tolerance": tolerance,
        "undecided": sum(abs(p[0] - 0.5) <= tolerance for p in probs),
        "reference_undecided": sum(abs(r[0] - 0.5) <= TOLERANCE["float32"] for r in reference),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    pairs = demo_pair_texts(args.pairs)
    reference = probabilities("transformers", "float32", pairs)
    variants = [("transformers", "bfloat16")]
    if not args.skip_vllm:
        variants += [("vllm", "float32"), ("vllm", "bfloat16")]
    rows = []
    for name, dtype in variants:
        probs = probabilities(name, dtype, pairs)
        rows.append(
            {"backend": name, "dtype": dtype, "pairs": len(pairs), **compare(reference, probs, tolerance_of(dtype))}
        )
        print(json.dumps(rows[-1]), flush=True)
        rows[-1]["probabilities"] = probs
    if args.out:
        meta = {
            "date": str(date.today()),
            "machine": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        }
        args.out.write_text(json.dumps({"meta": meta, "reference": reference, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
