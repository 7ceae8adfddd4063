"""Write the shipped default judge's verdicts on every demo pair into core/head/shipped_head/.

A fresh studio stores them at its first start (core/judge/shipped.py), so that it opens on judged
pairs instead of "Not judged yet". They are what the fast path computes: the embedded model's
features (float32 on the CPU) through the shipped head; default_judge.py's feature cache serves
the pairs it holds, the model reads the rest. The file names the head's sha256, so verdicts of
one head are never stored for another.

    .venv/bin/python benchmarks/demo_verdicts.py [--cache /tmp/default-judge.pt]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import default_judge as dj  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, help="default_judge.py's feature cache (optional)")
    parser.add_argument("--max-chars", type=int, default=4000, help="as default_judge.py was run")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    import torch

    from core.backends.precision import tolerance_of
    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_rows
    from core.data.identity import content_key
    from core.head.classifier import HEAD_FILE, Head
    from core.head.default_judge import DEMO_VERDICTS, SHIPPED, file_sha256
    from core.model.spec import resolve_model
    from core.settings import get_settings

    head = Head.load(SHIPPED)
    features: dict[str, torch.Tensor] = {}
    if args.cache and args.cache.exists():
        rows = [r for name in dj.TRAIN_SOURCES + dj.EVAL_ONLY for r in dj.load(name, args.max_chars)]
        cached = torch.load(args.cache)
        if cached["pairs"] == len(rows):
            for row, f in zip(rows, cached["values"][0], strict=True):
                features[content_key(row["prompt"], row["response_a"], row["response_b"])] = f
    demo = demo_rows()
    todo = [r for r in demo if content_key(r["prompt"], r["response_a"], r["response_b"]) not in features]
    print(f"{len(demo) - len(todo)} demo pairs from the cache, {len(todo)} to read")
    if todo:
        backend = TransformersBackend(resolve_model(get_settings()), batch_size=args.batch)
        found, _ = dj.read_pairs(backend, todo, args.batch)
        for row, f in zip(todo, found, strict=True):
            features[content_key(row["prompt"], row["response_a"], row["response_b"])] = f
    keys = [content_key(r["prompt"], r["response_a"], r["response_b"]) for r in demo]
    probs = head.prob_a(torch.stack([features[k] for k in keys])).tolist()
    shipped = {
        "head_sha256": file_sha256(SHIPPED / HEAD_FILE),
        "undecided_within": tolerance_of("float32"),
        "verdicts": dict(zip(keys, probs, strict=True)),
    }
    (SHIPPED / DEMO_VERDICTS).write_text(json.dumps(shipped))
    print(f"wrote {len(keys)} verdicts to {SHIPPED / DEMO_VERDICTS}")


if __name__ == "__main__":
    main()
