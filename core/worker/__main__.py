"""`python -m core.worker JOB_ID [--backend NAME] [--batch-size N]`: the worker process of every
job kind (core/worker/process.py), as the studio starts it and as it runs on another machine."""

from __future__ import annotations

import argparse
import logging
import sys

from core.errors import SYSTEM_ERRORS, GramError, printable, system_error
from core.settings import get_settings
from core.vocab import BackendName
from core.worker.process import WorkerOptions, run_job
from storage.database import Database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.worker", description=__doc__.splitlines()[0])
    parser.add_argument("job_id", type=int)
    parser.add_argument("--backend", choices=list(BackendName), help="judging jobs: the backend to judge on here")
    parser.add_argument("--batch-size", type=int, default=8, help="judging jobs: the backend's batch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings()
        db = Database(settings.database_url)
        worked = run_job(db, settings, args.job_id, WorkerOptions(args.backend, max(1, args.batch_size)))
    except GramError as error:  # the edge of this process: one line, a non-zero exit
        print(printable(f"worker for job {args.job_id}: {error}"), file=sys.stderr)
        return 1
    except SYSTEM_ERRORS as error:
        logging.getLogger(__name__).info("worker for job %s failed", args.job_id, exc_info=True)
        print(printable(f"worker for job {args.job_id}: {system_error(error)}"), file=sys.stderr)
        return 1
    print(worked.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
