"""The trust threshold's promise and the prediction-powered intervals, on real human labels.

The shipped default judge's verdicts on the human-labelled pairs it never trained on (the held-out
PandaLM and LLMBar pairs and BIG-bench HHH), read from default_judge.py's feature cache. Each
repetition draws `--reviewed` of them at random as the pairs people reviewed (their reference label
is the person's), and the rest are pairs nobody reviewed:

- `gram trust`'s rule (core/evaluation/trust.py) picks a threshold from the reviewed pairs; the
  promise is kept when the judge's agreement on the *unreviewed* pairs above it is at least the
  target. Reported: how often a threshold was found, its coverage, and how often the promise broke
  (it may break in at most alpha of repetitions).
- prediction-powered inference (core/stats/ppi.py) estimates the judge's accuracy on all pairs from
  the reviewed ones and its confidences on the rest; reported: how often the 95% interval covered
  the accuracy over all pairs, and its width against the reviews-only Wilson interval.

    .venv/bin/python benchmarks/trust_real.py --cache /tmp/default-judge.pt --out benchmarks/trust-real-<date>.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import default_judge as dj  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--max-chars", type=int, default=4000)
    parser.add_argument("--reviewed", type=int, default=300)
    parser.add_argument("--repetitions", type=int, default=500)
    parser.add_argument("--targets", default="0.6,0.7,0.8")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from core.data.demo import demo_rows
    from core.data.identity import content_key
    from core.evaluation.trust import choose_threshold
    from core.head.classifier import Head
    from core.head.default_judge import SHIPPED
    from core.stats.intervals import wilson_interval
    from core.stats.ppi import ppi_mean
    from core.train.split import is_held_out
    from core.vocab import verdict_for

    demo = {content_key(r["prompt"], r["response_a"], r["response_b"]) for r in demo_rows()}
    rows = [r | {"set": name} for name in dj.TRAIN_SOURCES + dj.EVAL_ONLY for r in dj.load(name, args.max_chars)]
    cached = torch.load(args.cache)
    assert cached["pairs"] == len(rows), "the cache holds other pairs: run default_judge.py --cache first"
    features = cached["values"][0]
    head = Head.load(SHIPPED)
    probs = head.prob_a(features).tolist()
    unseen = []
    for r, p in zip(rows, probs, strict=True):
        key = content_key(r["prompt"], r["response_a"], r["response_b"])
        if r["set"] in dj.EVAL_ONLY or key in demo or is_held_out(key, dj.HELD_OUT_SHARE):
            label = verdict_for(p)
            unseen.append((max(p, 1 - p), label == r["label"]))
    accuracy = sum(ok for _, ok in unseen) / len(unseen)
    rng = random.Random(0)
    report: dict[str, Any] = {
        "pairs": len(unseen),
        "accuracy_all": accuracy,
        "reviewed": args.reviewed,
        "repetitions": args.repetitions,
        "alpha": args.alpha,
        "trust": {},
    }
    targets = [float(t) for t in args.targets.split(",")]
    found = {t: 0 for t in targets}
    broken = {t: 0 for t in targets}
    coverage: dict[float, list[float]] = {t: [] for t in targets}
    covered = 0
    widths_ppi, widths_naive = [], []
    for _ in range(args.repetitions):
        order = list(range(len(unseen)))
        rng.shuffle(order)
        reviewed = [unseen[i] for i in order[: args.reviewed]]
        rest = [unseen[i] for i in order[args.reviewed :]]
        for t in targets:
            chosen = choose_threshold(reviewed, t, args.alpha)
            if chosen is None:
                continue
            found[t] += 1
            above = [ok for c, ok in rest if c >= chosen.threshold]
            coverage[t].append(len(above) / len(rest))
            if above and sum(above) / len(above) < t:
                broken[t] += 1
        estimate = ppi_mean([float(ok) for _, ok in reviewed], [c for c, _ in reviewed], [c for c, _ in rest])
        assert estimate is not None
        covered += estimate.interval[0] <= accuracy <= estimate.interval[1]
        widths_ppi.append(estimate.interval[1] - estimate.interval[0])
        low, high = wilson_interval(sum(ok for _, ok in reviewed), len(reviewed)) or (0.0, 1.0)
        widths_naive.append(high - low)
    for t in targets:
        report["trust"][str(t)] = {
            "found": found[t] / args.repetitions,
            "mean_coverage": sum(coverage[t]) / len(coverage[t]) if coverage[t] else None,
            "promise_broken": broken[t] / args.repetitions,
        }
        print(
            f"target {t:.2f}: threshold found in {found[t]}/{args.repetitions}, mean coverage "
            f"{report['trust'][str(t)]['mean_coverage'] or 0:.3f}, promise broken in {broken[t]} "
            f"(allowed: {args.alpha:.0%})"
        )
    report["ppi"] = {
        "covered": covered / args.repetitions,
        "mean_width": sum(widths_ppi) / len(widths_ppi),
        "mean_width_reviews_only": sum(widths_naive) / len(widths_naive),
    }
    print(
        f"accuracy over all {len(unseen)} pairs {accuracy:.3f}; PPI 95% interval covered it in "
        f"{covered}/{args.repetitions}; width {report['ppi']['mean_width']:.3f} vs reviews alone "
        f"{report['ppi']['mean_width_reviews_only']:.3f}"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
