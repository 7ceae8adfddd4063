"""The judging job: judge a dataset's pairs in batches, storing each batch as it completes.

`gram judge`, `gram evaluate --file`, the studio and `gram worker` all judge the same way: the job
for the work (this dataset, model version and verdict-changing options) is split into batches
(core/judge/distributed.py) and each process that judges it claims batches until none is left, so
two runs of the same work at once share it and no pair is judged twice. A pair counts as judged
once it has a judgment of this model version (its base model and adapter, not its folder's name)
made with the same options (`options_key`), so an interrupted run (killed, cancelled, crashed)
resumes where it stopped, while a run with other options (both orders after one) judges again.
Each batch's judgments and the job's progress are committed together.
"""

from __future__ import annotations

from collections.abc import Callable

from core.backends import Backend
from core.jobs.claims import DEFAULT_TIMEOUT_S
from core.jobs.lifecycle import get_job
from core.judge.distributed import queue_for_workers, run_worker
from core.judge.work import JudgeRun
from core.vocab import ACTIVE
from storage.database import Database
from storage.tables import Job


def run_judging(
    db: Database,
    backend: Backend,
    run: JudgeRun,
    *,
    show_progress: bool = True,
    on_batch: Callable[[Job], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    owner: str | None = None,
) -> Job:
    """Judge the run's pending pairs here, as one worker of the run's job; returns the job as this
    worker left it (a new job is `owner`'s). JobBusy if a live runner of the older single-runner kind
    holds the same work."""
    job = queue_for_workers(db, backend.spec, backend.name, run, owner=owner, timeout_s=timeout_s)
    if job.status in ACTIVE:
        run_worker(db, backend, job.id, timeout_s=timeout_s, show_progress=show_progress, on_batch=on_batch)
    with db.session() as session:
        return get_job(session, job.id)
