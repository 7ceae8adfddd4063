"""The judging job: judge a dataset's pairs in batches, storing each batch as it completes.

One runner at a time does a piece of work (core/jobs/claims.py): a second `gram judge` of the
same dataset with the same model and options is refused while the first is alive, and takes
over once it is dead. A pair counts as judged once it has a judgment of this model version (its base model and
adapter, not its folder's name) made with the same verdict-changing options (`options_key`), so
an interrupted run (killed, cancelled, crashed) resumes where it stopped and never judges a pair
twice, while a run with other options (both orders after one) judges again. Each batch's judgments
and the job's progress are committed together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from tqdm import tqdm

from core.backends import Backend
from core.data.datasets import get_dataset
from core.jobs.batches import is_split
from core.jobs.claims import DEFAULT_TIMEOUT_S, Runner, claim_work, find_resumable
from core.jobs.lifecycle import Claimed, get_job, mark_running
from core.judge.distributed import run_worker
from core.judge.work import JudgeRun, Target, judge_texts, pair_texts, pending_pair_ids, store_batch
from core.vocab import ACTIVE, JobKind
from storage.database import Database
from storage.tables import Job


def batches(pending: list[int], size: int, *, ramp: bool = False) -> Iterator[list[int]]:
    """The pending pair ids in the batches a run judges them in."""
    start = 0
    while start < len(pending):
        left = len(pending) - start
        take = min(size, max(1, left // 4), 1 if start == 0 else size) if ramp else size
        yield pending[start : start + take]
        start += take


def _eta(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


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
    """Judge the run's pending pairs; returns the finished (or cancelled) job (a new one is
    `owner`'s). JobBusy if another live runner is doing the same work (this dataset, model version,
    options)."""
    with db.session() as session:
        dataset_id = get_dataset(session, run.dataset).id
    target = Target.of(db, backend, run)
    version_id, options_key, key = target.version_id, target.options_key, target.work_key(run, dataset_id)
    with db.session() as session:
        found = find_resumable(session, JobKind.JUDGE, key, dataset_id)
        split_for_workers = found is not None and found.status in ACTIVE and is_split(session, found.id)
    if found is not None and split_for_workers:  # this work is being shared out: join in as one more worker
        run_worker(db, backend, found.id, timeout_s=timeout_s, show_progress=show_progress, on_batch=on_batch)
        with db.session() as session:
            return get_job(session, found.id)
    runner = Runner.of_thread()  # the studio judges in a thread of its server
    job_id = claim_work(
        db, JobKind.JUDGE, key, run.config(backend), dataset_id, runner, timeout_s=timeout_s, owner=owner
    )
    claimed = Claimed(db, job_id, runner, timeout_s)
    with db.session() as session:
        job = get_job(session, job_id)
        pending = pending_pair_ids(session, dataset_id, version_id, options_key, labelled_only=run.labelled_only)
        already = job.done
        # `limit` counts over the job's life, so a resumed job stops where the first run would have.
        if run.limit is not None:
            pending = pending[: max(run.limit - already, 0)]
        mark_running(job, already + len(pending))

    bar = tqdm(
        total=already + len(pending),
        initial=already,
        unit="pair",
        desc=f"judging {run.dataset}",
        disable=not show_progress,
    )
    done, tokens, started = already, 0, time.perf_counter()
    # `done` and `tokens` are read when the job ends.
    with claimed.recorded(lambda: {"judged": done, "tokens": tokens}):
        try:
            for ids in batches(pending, run.batch_size, ramp=run.ramp):
                claimed.stop_if_cancelled()  # between batches: the last one is stored
                ids, texts = pair_texts(db, ids)
                records, features = judge_texts(backend, run, texts)
                with db.session() as session:
                    tokens += store_batch(session, backend, run, target, job_id, ids, records, features)
                    done += len(ids)
                    elapsed = time.perf_counter() - started
                    rate = (done - already) / elapsed if elapsed else 0.0
                    left = (job.total or done) - done
                    eta = f", about {_eta(left / rate)} left" if rate and left else ""
                    job = claimed.progress(
                        session,
                        done,
                        f"{done}/{job.total} pairs, {rate:.2f} pairs/s, "
                        f"{tokens / elapsed if elapsed else 0:.1f} tokens/s{eta}",
                    )
                if on_batch:  # after the commit: observers see the stored batch
                    on_batch(job)
                bar.update(len(ids))
                bar.set_postfix(tokens_per_s=f"{tokens / max(time.perf_counter() - started, 1e-9):.1f}")
        finally:
            bar.close()
    with db.session() as session:
        return get_job(session, job_id)
