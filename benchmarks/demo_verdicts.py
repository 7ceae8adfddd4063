"""Write the embedded model's fast-path verdicts on every demo pair into the package.

A fresh studio of the embedded model stores them at its first start (core/judge/shipped.py), so
that it opens on judged pairs instead of "Not judged yet". They are exactly what `gram judge demo
--fast` computes on a CPU (float32): each pair in both orders, its P(A), label, confidence and
whether the two orders agree. The file names the model and precision they came from, and they are
stored only for that model.

    .venv/bin/python benchmarks/demo_verdicts.py
"""

from __future__ import annotations

import argparse
import json

from tqdm import tqdm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_rows
    from core.data.identity import content_key
    from core.head.fast_path import score_pairs
    from core.judge.shipped import DEMO_VERDICTS
    from core.model.spec import resolve_model
    from core.settings import get_settings
    from core.text.pair import PairText

    backend = TransformersBackend(resolve_model(get_settings()), batch_size=args.batch)
    rows = demo_rows()
    records = {}
    for start in tqdm(range(0, len(rows), args.batch), desc="judging the demo", unit="batch"):
        batch = rows[start : start + args.batch]
        scores = score_pairs(backend, [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in batch])
        for row, score in zip(batch, scores, strict=True):
            records[content_key(row["prompt"], row["response_a"], row["response_b"])] = score.record()
    shipped = {"model": backend.spec.name, "precision": backend.precision, "records": records}
    DEMO_VERDICTS.write_text(json.dumps(shipped))
    print(f"wrote {len(records)} verdicts of {backend.spec.name} ({backend.precision}) to {DEMO_VERDICTS}")


if __name__ == "__main__":
    main()
