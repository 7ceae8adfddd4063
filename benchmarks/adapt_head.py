"""The judge head (core/head/classifier.py) against the untrained fast path, on learnable criteria and
human-labelled pairs: held-out accuracy (95% interval), position consistency and ECE after 16, 32
and 64 reviewed pairs, with the time each part takes; and the instant judge (core/head/instant.py)
while a person reviews the training pairs in order: how often it agreed before seeing each label.

Each criterion (core/evaluation/criteria.py) relabels real pairs by a visible property, balanced
on position and length; the human-labelled sets keep their labels (ties left out). For each set the
first --held-out pairs after the largest training size are held out, and every size trains on a
prefix of the same training pairs. Features are read once per pair (both orders, the fast path's
two forward passes); the head is then fitted per size.

    .venv/bin/python benchmarks/adapt_head.py --out benchmarks/head-<date>.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "common"


def load(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def figures(probs: list[float], labels: list[str], consistent: list[bool]) -> dict:
    """The adaptation job's held-out figures (core/train/adaptation.py), and the undecided count."""
    from core.train.adaptation import figures_of

    return figures_of(probs, labels, consistent) | {"undecided": sum(1 for p in probs if p == 0.5)}


def instant(features, labels: list[str], layers: tuple, untrained: list[float]) -> dict:  # noqa: ANN001
    """A person reviews `labels`' pairs in order while the instant judge refits when
    core/head/instant.py would; each pair is first predicted by the head of the last refit
    (prequential agreement), against the untrained fast path on the same pairs."""
    from core.head.classifier import fit_head
    from core.head.instant import MIN_REVIEWS, REFIT_EVERY
    from core.stats.intervals import wilson_interval

    head, last, hits, before, fits = None, None, [], [], []
    for k, label in enumerate(labels):
        if head is not None:
            p = float(head.prob_a(features[k : k + 1])[0])
            hits.append(p != 0.5 and (p >= 0.5) == (label == "A"))
            before.append(untrained[k] != 0.5 and (untrained[k] >= 0.5) == (label == "A"))
        done = k + 1
        due = done >= MIN_REVIEWS if last is None else done // REFIT_EVERY > last // REFIT_EVERY
        if due and len(set(labels[:done])) == 2:
            started = time.perf_counter()
            head, last = fit_head(features[:done], labels[:done], layers, ()), done
            fits.append(time.perf_counter() - started)
    return {
        "reviews": len(labels),
        "predicted": len(hits),
        "agreed": sum(hits),
        "agreement_ci": wilson_interval(sum(hits), len(hits)),
        "last_16_agreed": sum(hits[-16:]),
        "untrained_agreed": sum(before),
        "refits": len(fits),
        "refit_seconds_mean": sum(fits) / len(fits) if fits else None,
        "refit_seconds_max": max(fits, default=None),
    }


def run_set(  # noqa: PLR0913
    backend,  # noqa: ANN001
    name: str,
    texts: list,
    labels: list[str],
    sizes: list[int],
    held_out: int,
    cache: Path | None,
) -> dict:
    from core.head.classifier import fit_head, head_layers
    from core.head.fast_path import fast_slots
    from core.text.prompting import two_way
    from core.vocab import Order

    print(f"{name}: {len(texts)} pairs", flush=True)
    top = max(sizes)
    texts, labels = texts[: top + held_out], labels[: top + held_out]
    held_texts, held_labels = texts[top:], labels[top:]
    layers = head_layers(int(backend.model.config.num_hidden_layers))
    import torch

    saved = cache / f"{name}-{len(texts)}.pt" if cache else None
    if saved and saved.exists():  # features of an earlier run: only the fitting is measured again
        features, logprobs, feature_s = torch.load(saved).values()
    else:
        started = time.perf_counter()
        # One pass per order gives both the head's features and the untrained fast path's verdict.
        states, logprobs = backend.slot_states_and_logprobs(fast_slots(backend, texts, [Order.AB, Order.BA]), layers)
        features = states[0::2] - states[1::2]
        feature_s = (time.perf_counter() - started) / len(texts)
        if saved:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"features": features, "logprobs": logprobs, "seconds": feature_s}, saved)
    every_order = [(two_way(*logprobs[2 * i]), 1 - two_way(*logprobs[2 * i + 1])) for i in range(len(texts))]
    per_order = every_order[top:]
    out = {
        "set": name,
        "pairs": len(texts),
        "held_out": len(held_texts),
        "feature_seconds_per_pair": feature_s,
        "untrained": figures(
            [(ab + ba) / 2 for ab, ba in per_order], held_labels, [(ab >= 0.5) == (ba >= 0.5) for ab, ba in per_order]
        ),
        "head": [],
        "instant": instant(features, labels[:top], layers, [(ab + ba) / 2 for ab, ba in every_order[:top]]),
    }
    for size in sizes:
        started = time.perf_counter()
        head = fit_head(features[:size], labels[:size], layers, ())
        fit_s = time.perf_counter() - started
        probs = head.prob_a(features[top:]).tolist()
        # The head gives the swapped pair exactly 1 - P: consistent by construction (checked here).
        swapped = head.prob_a(-features[top:]).tolist()
        assert all(abs(p + q - 1) < 1e-5 for p, q in zip(probs, swapped, strict=True))
        row = {"train_pairs": size, "fit_seconds": fit_s, "l2": head.l2}
        row |= figures(probs, held_labels, [True] * len(probs))
        out["head"].append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--max-chars", type=int, default=1500, help="longest pair used (CPU time)")
    parser.add_argument("--cache", type=Path, help="keep each set's features here, and reuse them")
    parser.add_argument("--human", nargs="*", default=["llmbar", "pandalm"], help="human-labelled sets to add")
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
        run_set(backend, s.name, s.texts, s.labels, args.sizes, args.held_out, args.cache) | {"kind": s.kind}
        for s in measurement_sets(rows, args.max_chars, args.human)
    ]
    report = {
        "machine": platform.platform(),
        "cpus": __import__("os").cpu_count(),
        "model": backend.spec.name,
        "sets": results,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    for r in results:
        u = r["untrained"]
        print(
            f"{r['set']:10} ({r['kind']}, held-out {r['held_out']}): untrained acc {u['accuracy']:.2f} "
            f"cons {u['position_consistency']:.2f} ece {u['ece']:.3f}; "
            f"features {r['feature_seconds_per_pair']:.2f} s/pair"
        )
        i = r["instant"]
        print(
            f"    instant over {i['reviews']} reviews: agreed {i['agreed']}/{i['predicted']} "
            f"(untrained {i['untrained_agreed']}), last 16: {i['last_16_agreed']}/16, "
            f"refit {i['refit_seconds_mean']:.2f} s mean, {i['refit_seconds_max']:.2f} s max"
        )
        for h in r["head"]:
            low, high = h["accuracy_ci"]
            print(
                f"    head@{h['train_pairs']:3}: acc {h['accuracy']:.2f} [{low:.2f}, {high:.2f}] ece {h['ece']:.3f} "
                f"fit {h['fit_seconds']:.2f} s (l2 {h['l2']})"
            )


if __name__ == "__main__":
    main()
