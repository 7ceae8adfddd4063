"""One judging job with one worker, then the same job with two, on the same pairs, in one run.

    .venv/bin/python benchmarks/workers_speed.py [--db-url postgresql+psycopg://user@host/postgres]
        [--pairs 64] [--batch 4] [--threads 1] [--out workers.json]

Each variant gets a fresh database (on the PostgreSQL server of `--db-url`, else a SQLite file),
the demo pairs, `gram judge demo --fast --for-workers`, then that many `gram worker` processes,
each loading its own embedded model. The time is the job's own, from its first claimed batch to its
last (model loading left out: a worker that joins late loses nothing). `--threads` caps each
worker's CPU threads (OMP_NUM_THREADS), standing for one machine each; on this 2-core machine two
workers of 2 threads would share the same two cores. Checks every pair is judged exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from core.data.demo import seed_demo
from core.settings import get_settings
from storage.database import Database
from storage.tables import Job, Judgment, as_utc

ROOT = Path(__file__).resolve().parents[1]


def fresh_url(server: str | None, home: Path) -> str:
    if server is None:
        return f"sqlite:///{home / 'gram.db'}"
    name = f"gram_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(server, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return server.rsplit("/", 1)[0] + f"/{name}"


def variant(workers: int, args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="gram-bench-"))
    url = fresh_url(args.db_url, home)
    env = {**os.environ, "GRAM_HOME": str(home), "GRAM_DB_URL": url, "OMP_NUM_THREADS": str(args.threads)}
    db = Database(url)
    with db.session() as session:
        seed_demo(session, get_settings().model_copy(update={"home": home}))
    gram = [sys.executable, "-m", "app.cli"]
    subprocess.run(
        [
            *gram,
            "judge",
            "demo",
            "--fast",
            "--for-workers",
            "--limit",
            str(args.pairs),
            "--batch-size",
            str(args.batch),
        ],
        env=env,
        cwd=ROOT,
        check=True,
    )
    with db.session() as session:
        job_id = session.scalars(select(Job.id)).one()
    processes = [
        subprocess.Popen([*gram, "worker", str(job_id), "--batch-size", str(args.batch)], env=env, cwd=ROOT)
        for _ in range(workers)
    ]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"a worker failed (exit {process.returncode})")
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.started_at and job.finished_at
        seconds = (as_utc(job.finished_at) - as_utc(job.started_at)).total_seconds()
        per_pair = list(session.scalars(select(func.count(Judgment.id)).group_by(Judgment.pair_id)))
    db.dispose()
    assert len(per_pair) == args.pairs and set(per_pair) == {1}, "a pair judged twice or missed"
    return {"workers": workers, "pairs": args.pairs, "seconds": seconds, "pairs_per_s": args.pairs / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", help="A PostgreSQL server's URL (a database is created per variant).")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [variant(1, args), variant(2, args)]
    store = "PostgreSQL" if args.db_url else "SQLite"
    print(
        f"\n{args.pairs} demo pairs, fast path, batches of {args.batch}, {args.threads} thread(s) per worker, {store}"
    )
    print("| workers | seconds | pairs/s | time vs one worker |")
    print("|---|---|---|---|")
    for row in rows:
        ratio = row["seconds"] / rows[0]["seconds"]
        print(f"| {row['workers']} | {row['seconds']:.1f} | {row['pairs_per_s']:.2f} | {ratio:.2f} |")
    if args.out:
        meta = {"date": str(date.today()), "store": store, "threads": args.threads, "cores": os.cpu_count()}
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
