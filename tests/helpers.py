"""Reference computations the tests compare the backends against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.text.prompting import label_slot


def reference_p_a(tokenizer: Any, model: Any, text: str) -> float:
    """P(A) over {A, B} after `text`: one unpadded transformers forward pass."""
    import torch

    slot = label_slot(tokenizer, text)
    ids = tokenizer(slot.text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, -1].float()
    return torch.softmax(logits[[slot.token_a, slot.token_b]], dim=0)[0].item()


def reference_continuation_logprob(tokenizer: Any, model: Any, prefix: str, continuation: str) -> float:
    """Summed log P(continuation | prefix), its tokens those after the prefix's own: one unpadded
    transformers forward pass."""
    import torch

    ids = tokenizer.encode(prefix + continuation, add_special_tokens=False)
    start = len(tokenizer.encode(prefix, add_special_tokens=False))
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    return sum(logprobs[at - 1, ids[at]].item() for at in range(start, len(ids)))


def schema_context(connection: Any) -> Any:
    """A migration context for comparing the store's schema with the models, leaving out what only
    migrations keep (storage.tables.outside_models)."""
    from alembic.migration import MigrationContext

    from storage.tables import outside_models

    return MigrationContext.configure(
        connection, opts={"include_object": lambda _object, name, *_: not outside_models(name)}
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    ready: Callable[[], bool], *, seconds: float, what: str, process: Any = None, interval: float = 0.5
) -> None:
    """Poll `ready` until it returns True; fail the test if time runs out or `process` exits."""
    import time

    import pytest

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what} exited with status {process.returncode}")
        if ready():
            return
        time.sleep(interval)
    pytest.fail(f"{what} did not start within {seconds:.0f} s")


# Who races in race_review_saves: one person in two windows on their own review, or two leads
# on a pair's final label. Either way one review is written twice from the same version.
WINDOWS = (("ana", False), ("ana", False))
LEADS = (("lea", True), ("lou", True))


def race_review_saves(
    db: Any, pair_ids: list[int], sides: tuple[tuple[str, bool], ...] = WINDOWS
) -> list[tuple[str, str]]:
    """Two saves of different labels on one review of each pair at the same instant (two
    threads, one barrier), both starting from the version they saw; returns each race's
    (first, second) outcome: 'saved' or 'conflict'. Every save is a real change, so a lost update
    is a double 'saved'."""
    return [_race(db, pair_id, sides) for pair_id in pair_ids]


def _stored(session: Any, pair_id: int, reviewer: str, final: bool) -> Any:
    from core.review.reviews import find_review

    return find_review(session, pair_id, reviewer, final=final)


def _race(db: Any, pair_id: int, sides: tuple[tuple[str, bool], ...]) -> tuple[str, str]:
    import threading

    from core.errors import ConflictError
    from core.review.reviews import save_review
    from core.vocab import LABELS

    (who, final) = sides[0]
    with db.session() as session:
        review = _stored(session, pair_id, who, final)
        seen, current = (review.version, review.label) if review else (0, None)
    labels = [label for label in LABELS if label != current][:2]
    barrier = threading.Barrier(2)
    result: dict[int, str] = {}

    def save(side: int) -> None:
        reviewer, final = sides[side]
        barrier.wait()
        try:
            with db.session() as session:
                save_review(session, pair_id, reviewer=reviewer, final=final, expected_version=seen, label=labels[side])
            result[side] = "saved"
        except ConflictError:
            result[side] = "conflict"
        except Exception as error:  # anything else is a failure the test reports
            result[side] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=save, args=(side,)) for side in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return result.get(0, "hung"), result.get(1, "hung")


def assert_one_save_wins(
    db: Any, pair_ids: list[int], outcomes: list[tuple[str, str]], sides: tuple[tuple[str, bool], ...] = WINDOWS
) -> None:
    """Each race had exactly one winner, whose label is stored, with exactly one new event."""
    assert all(sorted(o) == ["conflict", "saved"] for o in outcomes), outcomes
    with db.session() as session:
        for pair_id, (first, _) in zip(pair_ids, outcomes, strict=True):
            winner, final = sides[0 if first == "saved" else 1]
            review = _stored(session, pair_id, winner, final)
            assert review is not None and review.reviewer == winner and review.events[-1].reviewer == winner
            assert review.events[-1].after["label"] == review.label


def demo_on_embedded_model(db: Any, settings: Any, embedded_model_dir: Any) -> None:
    """The demo dataset in the store, and the embedded model (linked into the data folder, not
    converted again) recorded and active: where `gram adapt` and the studio's jobs start."""
    from core.data.demo import seed_demo
    from core.model.spec import resolve_model
    from core.model.versions import activate, version_for

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / embedded_model_dir.name).symlink_to(embedded_model_dir)
    with db.session() as session:
        seed_demo(session, settings)
        activate(session, version_for(session, resolve_model(settings)))


def gram_output(*args: str) -> str:
    """`gram ARGS` in this process; fails the test unless it exits 0; its output."""
    from click.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def criterion_file(path: Any, name: str = "numbers", max_chars: int = 2000) -> Any:
    """The demo pairs of a learnable criterion (core/evaluation/criteria.py), labelled by it, as a
    JSONL file at `path` (returned)."""
    import json

    from core.data.demo import demo_rows
    from core.evaluation.criteria import criterion_rows
    from core.text.pair import PairText

    texts = [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in demo_rows()]
    lines = [json.dumps(row) for row in criterion_rows(name, texts, max_chars)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _open_when_all_are_ready(url: str, ready: Any, errors: Any) -> None:
    from storage.database import Database

    ready.wait()
    try:
        Database(url).dispose()
    except Exception as error:  # noqa: BLE001 - the parent reports what each process met
        errors.put(f"{type(error).__name__}: {error}")


def _connect_when_all_are_ready(urls: list[str], ready: Any, errors: Any) -> None:
    from storage.database import make_engine

    for url in urls:
        ready.wait()
        try:
            with make_engine(url).connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as error:  # noqa: BLE001 - the parent reports what each process met
            errors.put(f"{url}: {type(error).__name__}: {error}")


def _released_together(target: Any, args: tuple[Any, ...], processes: int, seconds: float) -> list[str]:
    """Run `target(*args, ready, errors)` in several processes that wait on one barrier; the
    errors they reported, and the exit status of any that did not end well."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, errors = context.Barrier(processes), context.Queue()
    started = [context.Process(target=target, args=(*args, ready, errors)) for _ in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join(timeout=seconds)
    met = []
    while not errors.empty():
        met.append(errors.get())
    return met + [f"exit {p.exitcode}" for p in started if p.exitcode != 0]


def first_connections_at_once(urls: list[str], processes: int = 8) -> list[str]:
    """Connect to each of `urls` (fresh SQLite files) from several processes released together,
    one url after another; the errors they met. The first connection to a file turns on WAL."""
    return _released_together(_connect_when_all_are_ready, (urls,), processes, 240)


def first_starts_at_once(url: str, processes: int = 6) -> list[str]:
    """Open one unmigrated store from several processes released together (what happens when two
    `gram` commands or a studio and a worker start on a fresh data folder); the errors they met."""
    return _released_together(_open_when_all_are_ready, (url,), processes, 120)


def threads_at_once(work: Callable[[int], None], threads: int) -> list[Exception]:
    """Run `work(0)` ... `work(threads - 1)` in threads released together by a barrier; the errors
    they raised (a thread still running after a minute counts as one)."""
    import threading

    ready, errors = threading.Barrier(threads), list[Exception]()

    def run(k: int) -> None:
        try:
            ready.wait()
            work(k)
        except Exception as error:  # noqa: BLE001 - the caller reports them
            errors.append(error)

    started = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=60)
    return errors + [TimeoutError("a thread still runs")] * sum(t.is_alive() for t in started)
