"""Adaptation curves of the judge head (core/head/classifier.py): held-out agreement after 16, 32, 64
and 128 reviewed pairs, on learnable criteria and human-labelled pairs, for each set of features
a head can read, with and without self-training on the pairs nobody reviewed.

Each criterion (core/evaluation/criteria.py) relabels real PandaLM and LLMBar pairs by a visible
property, balanced on position and length; the human-labelled sets keep their labels (ties left
out). Features are read once per pair through the fast path's own code (both orders; the slot and
the mean and max of each response, at the head's layers) and every variant reads a part of them.

Per set, R random splits (seeds 0..R-1): the pairs after the largest training size that fits are
held out, and every size trains on a prefix of the same shuffled pairs. A point is the mean
held-out accuracy over the splits; its 95% interval is Wilson's at one split's held-out size (the
splits share pairs, so pooling them would overstate n). Position consistency of a head is 1 by
construction (checked); ECE is the job's (core/train/adaptation.py), averaged over the splits.

"+ self-training": the head labels the set's other training pairs (not the held-out ones, not
the reviewed ones), keeps those it gives P >= --pseudo-threshold either way, and is refitted on
the reviews and those pseudo-labels (GRAM-R²'s loop, with the head as the learner).

    .venv/bin/python benchmarks/adapt_curves.py --out benchmarks/curves-<date>.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "common"
VARIANTS = {"slot": (), "slot+mean": ("mean",), "slot+mean+max": ("mean", "max")}  # the pools read


def load(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def columns(layers: int, size: int, pools: tuple[str, ...], read: tuple[str, ...]) -> list[int]:
    """The columns of `order_features(..., pools=read)` that a head with `pools` reads."""
    keep = ("slot", *pools)
    per_layer = ("slot", *read)
    return [
        layer * len(per_layer) * size + block * size + i
        for layer in range(layers)
        for block, name in enumerate(per_layer)
        if name in keep
        for i in range(size)
    ]


def held_out(probs: list[float], labels: list[str]) -> dict[str, Any]:
    from core.train.adaptation import figures_of

    return figures_of(probs, labels, [True] * len(probs))  # a head is consistent by construction


def fit_and_score(x, labels: list[str], train: list[int], held: list[int], pool: list[int], threshold: float):  # noqa: ANN001, ANN201
    """(plain head's held-out probs, self-trained head's probs, pseudo-labels kept, fit seconds)."""
    from core.head.classifier import fit_head

    started = time.perf_counter()
    head = fit_head(x[train], [labels[i] for i in train], (0,), ())
    fit_s = time.perf_counter() - started
    plain = head.prob_a(x[held]).tolist()
    assert all(abs(p + q - 1) < 1e-5 for p, q in zip(plain, head.prob_a(-x[held]).tolist(), strict=True))
    guesses = head.prob_a(x[pool]).tolist() if pool else []
    kept = [(i, "A" if p >= 0.5 else "B") for i, p in zip(pool, guesses, strict=True) if max(p, 1 - p) >= threshold]
    if not kept:
        return plain, plain, 0, fit_s
    again = fit_head(x[train + [i for i, _ in kept]], [labels[i] for i in train] + [y for _, y in kept], (0,), ())
    return plain, again.prob_a(x[held]).tolist(), len(kept), fit_s


def run_set(backend, name: str, texts: list, labels: list[str], args: argparse.Namespace) -> dict[str, Any]:  # noqa: ANN001
    import torch

    from core.head.classifier import head_layers, order_features
    from core.head.fast_path import fast_slots
    from core.stats.intervals import wilson_interval
    from core.text.prompting import two_way
    from core.vocab import Order

    sizes = [s for s in args.sizes if len(texts) - s >= args.min_held_out]
    texts, labels = texts[: max(sizes) + args.held_out], labels[: max(sizes) + args.held_out]
    print(f"{name}: {len(texts)} pairs, sizes {sizes}", flush=True)
    layers, read = head_layers(backend.num_layers), ("mean", "max")
    cache = args.cache / f"{name}-{len(texts)}.pt" if args.cache else None
    if cache and cache.exists():
        features, logprobs, feature_s = torch.load(cache).values()
    else:
        started = time.perf_counter()
        states, logprobs = backend.slot_states_and_logprobs(
            fast_slots(backend, texts, [Order.AB, Order.BA]), layers, read
        )
        features = order_features(states, len(layers), read)
        feature_s = (time.perf_counter() - started) / len(texts)
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"features": features, "logprobs": logprobs, "seconds": feature_s}, cache)
    size = backend.model.config.hidden_size
    orders = [(two_way(*logprobs[2 * i]), 1 - two_way(*logprobs[2 * i + 1])) for i in range(len(texts))]
    out: dict[str, Any] = {"set": name, "pairs": len(texts), "feature_seconds_per_pair": feature_s, "sizes": sizes}
    splits = []
    for seed in range(args.splits):
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        splits.append(order)
    held_n = len(texts) - max(sizes)
    untrained = []
    for order in splits:
        held = order[max(sizes) :]
        rows = held_out([(orders[i][0] + orders[i][1]) / 2 for i in held], [labels[i] for i in held])
        rows["position_consistency"] = sum((orders[i][0] >= 0.5) == (orders[i][1] >= 0.5) for i in held) / len(held)
        untrained.append(rows)
    out["untrained"] = _mean(untrained, held_n)
    for variant, pools in VARIANTS.items():
        x = features[:, columns(len(layers), size, pools, read)]
        curve = []
        for n in sizes:
            plain_runs, self_runs, kept, fits = [], [], [], []
            for order in splits:
                train, held = order[:n], order[max(sizes) :]
                if len({labels[i] for i in train}) < 2:
                    continue
                pool = order[n : max(sizes)]
                plain, selftrained, k, fit_s = fit_and_score(x, labels, train, held, pool, args.pseudo_threshold)
                truth = [labels[i] for i in held]
                plain_runs.append(held_out(plain, truth))
                self_runs.append(held_out(selftrained, truth))
                kept.append(k)
                fits.append(fit_s)
            point = {"train_pairs": n, "head": _mean(plain_runs, held_n), "fit_seconds": sum(fits) / len(fits)}
            point["self_trained"] = _mean(self_runs, held_n) | {"pseudo_labels_kept": sum(kept) / len(kept)}
            curve.append(point)
        out[variant] = curve
    for point in out["slot+mean+max"]:
        low_high = wilson_interval(round(point["head"]["accuracy"] * held_n), held_n)
        point["head"]["accuracy_ci"] = low_high
    return out


def _mean(runs: list[dict[str, Any]], held_n: int) -> dict[str, Any]:
    from core.stats.intervals import wilson_interval

    accuracy = sum(r["accuracy"] for r in runs) / len(runs)
    return {
        "accuracy": accuracy,
        "accuracy_ci": wilson_interval(round(accuracy * held_n), held_n),
        "ece": sum(r["ece"] for r in runs) / len(runs),
        "position_consistency": sum(r["position_consistency"] for r in runs) / len(runs),
        "held_out": held_n,
        "splits": len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--held-out", type=int, default=100, help="most held-out pairs per set")
    parser.add_argument("--min-held-out", type=int, default=30, help="a size is measured only with this many left")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--pseudo-threshold", type=float, default=0.9)
    parser.add_argument("--max-chars", type=int, default=2500, help="longest pair used (CPU time)")
    parser.add_argument("--cache", type=Path, help="keep each set's features here, and reuse them")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_paths
    from core.evaluation.criteria import measurement_sets
    from core.model.spec import resolve_model
    from core.settings import get_settings

    sources = [SHARED / "pandalm.jsonl", SHARED / "llmbar.jsonl"]
    rows = load(sources) if all(p.exists() for p in sources) else load(demo_paths())
    backend = TransformersBackend(resolve_model(get_settings()), batch_size=8)
    results = [
        run_set(backend, s.name, s.texts, s.labels, args) | {"kind": s.kind}
        for s in measurement_sets(rows, args.max_chars)
    ]
    report = {"machine": platform.platform(), "cpus": os.cpu_count(), "model": backend.spec.name, "sets": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    for r in results:
        u = r["untrained"]
        print(
            f"{r['set']:9} ({r['kind']}, held-out {u['held_out']}): untrained {u['accuracy']:.2f} "
            f"cons {u['position_consistency']:.2f}; features {r['feature_seconds_per_pair']:.2f} s/pair"
        )
        for variant in VARIANTS:
            cells = [
                f"{p['train_pairs']}: {p['head']['accuracy']:.2f} (st {p['self_trained']['accuracy']:.2f}, "
                f"ece {p['head']['ece']:.3f})"
                for p in r[variant]
            ]
            print(f"    {variant:14} " + "  ".join(cells))


if __name__ == "__main__":
    main()
