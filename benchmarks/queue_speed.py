"""Review queue speed with 100,000 pairs in the store (SQLite file, migrated like the studio's).

Fills a fresh store with N pairs (asking for two reviews a pair), a judgment for 80% of them, a
review for 10% and a second person's review for half of those, then times the studio's own
handlers: opening the queue (first page, each sort and filter, a person's "needs you" and
"people disagree") and moving to the next pair (loading the pair view). Prints the median and
worst of R repeats in milliseconds.

    .venv/bin/python benchmarks/queue_speed.py --pairs 100000 [--db-url URL]

With --db-url naming a store an earlier run filled, it times that store again (no new fill).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path


def fill(db, n: int) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    from storage.tables import Dataset, Judgment, Pair, Review

    rng = random.Random(0)
    with db.session() as session:
        dataset = Dataset(name="big", source="benchmark", reviews_per_pair=2)
        session.add(dataset)
        session.flush()
        dataset_id = dataset.id
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
    for start in range(0, n, 10_000):
        with db.session() as session:
            pairs = [
                {
                    "dataset_id": dataset_id,
                    "prompt": f"question {i}: " + " ".join(rng.choices(words, k=30)),
                    "response_a": " ".join(rng.choices(words, k=80)),
                    "response_b": " ".join(rng.choices(words, k=80)),
                    "reference_label": rng.choice("AB"),
                    "source": "bench",
                    "content_hash": f"{i:064d}",
                    "meta": {},
                }
                for i in range(start, min(start + 10_000, n))
            ]
            ids = list(session.scalars(insert(Pair).returning(Pair.id), pairs))
            judgments = []
            for pid in ids:
                if rng.random() < 0.8:
                    p = rng.random()
                    judgments.append(
                        {
                            "pair_id": pid,
                            "model": "bench",
                            "backend": "transformers",
                            "protocol": "gram-r2",
                            "origin": "judge",
                            "label": "A" if p >= 0.5 else "B",
                            "confidence": max(p, 1 - p),
                            "prob_a": p,
                            "consistent": rng.random() < 0.7,
                            "rationale": "Feedback: ...",
                            "raw_output": "",
                            "orders": [],
                            "timings": {},
                        }
                    )
            session.execute(insert(Judgment), judgments)
            reviews = [
                {
                    "pair_id": pid,
                    "label": rng.choice("AB"),
                    # and one pair in a hundred's review has a rare tag (a sparse filter)
                    "tags": (["checked"] if rng.random() < 0.5 else []) + (["rare"] if pid % 100 == 0 else []),
                    "note": "",
                    "reviewer": "bench",
                    "version": 1,
                }
                for pid in ids
                if rng.random() < 0.1
            ]
            # Half the reviewed pairs have a second person's review (agreeing or not, at random).
            second = [{**r, "reviewer": "bench2", "label": rng.choice("AB")} for r in reviews if rng.random() < 0.5]
            session.execute(insert(Review), reviews + second)


def timed(fn, repeats: int) -> dict[str, float]:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--db-url", help="Default: a fresh SQLite file.")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gram-queue-"))
    os.environ["GRAM_HOME"] = str(home)
    from sqlalchemy import func, select

    from core.review.pair_view import pair_detail
    from core.review.queue import QueueFilter
    from core.review.workflow import QueueState, open_queue
    from core.settings import get_settings
    from storage.database import Database
    from storage.tables import Dataset, Pair

    settings = get_settings()
    db = Database(args.db_url or settings.database_url)
    started = time.perf_counter()
    with db.session() as session:
        filled = session.scalar(select(func.count()).select_from(Pair).join(Dataset).where(Dataset.name == "big"))
    if filled:  # a store a previous run filled (--db-url): timed again, on the code as it is now
        print(f"reusing the {filled} pairs already in the store")
        args.pairs = filled
    else:
        fill(db, args.pairs)
        print(f"filled {args.pairs} pairs in {time.perf_counter() - started:.0f} s")
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load: planner statistics and the visibility map
        # (an index-only count reads the heap for every row until then).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    cases = {
        "open queue (by id)": QueueFilter("big"),
        "open queue (lowest confidence first)": QueueFilter("big", sort="confidence-asc"),
        "open queue (inconsistent, disagreeing)": QueueFilter("big", inconsistent_only=True, disagreeing_only=True),
        "open queue (unjudged)": QueueFilter("big", status="unjudged"),
        "open queue (tag 'checked')": QueueFilter("big", tag="checked"),
        "open queue (tag 'rare')": QueueFilter("big", tag="rare"),
        "open queue (text search)": QueueFilter("big", search="question 99999"),
        "open queue (needs you, 2 reviews a pair)": QueueFilter("big", status="needs-you", reviewer="other"),
        "open queue (people disagree)": QueueFilter("big", status="disagreements", reviewer="other"),
    }
    results = {}
    for name, f in cases.items():
        results[name] = timed(lambda f=f: open_queue(db, f, 0), args.repeats)
    state = open_queue(db, QueueFilter("big", sort="confidence-asc"), 0)[0]
    position = [0]

    def next_pair() -> None:
        position[0] += 1
        with db.session() as session:
            pair_detail(session, state.ids[position[0] % len(state.ids)], "bench")

    results["next pair (pair view)"] = timed(next_pair, args.repeats)
    deep = QueueState(QueueFilter("big", sort="confidence-asc"), page=args.pairs // 25 - 1, ids=[])
    results["last page (lowest confidence first)"] = timed(lambda: open_queue(db, deep.filter, deep.page), args.repeats)
    for name, r in results.items():
        print(f"{name:42} median {r['median_ms']:7.1f} ms   max {r['max_ms']:7.1f} ms")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%d"),
                    "pairs": args.pairs,
                    "database": db.engine.url.get_backend_name(),
                    "results": results,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
