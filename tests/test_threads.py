"""The CPU threads the model computes with: the cores other work leaves free (core/backends/threads.py)."""

from __future__ import annotations

import pytest

from core.backends.threads import free_threads, usable_cores
from core.errors import ConfigError


def test_threads_are_the_cores_the_load_leaves_free_and_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 1 <= free_threads() <= usable_cores()  # this machine, as loaded now
    monkeypatch.setattr("core.backends.threads.usable_cores", lambda: 8)
    assert free_threads(busy=0.0) == 8
    assert free_threads(busy=2.6) == 5  # about three cores busy with other processes
    assert free_threads(busy=20.0) == 1  # a machine busier than it has cores
    assert free_threads(3, busy=20.0) == 3  # GRAM_THREADS says so


def test_a_thread_count_is_checked_where_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("GRAM_THREADS", "0")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="GRAM_THREADS"):
        get_settings()
    monkeypatch.setenv("GRAM_THREADS", "2")
    get_settings.cache_clear()
    assert get_settings().threads == 2


def test_other_processes_spinning_take_their_cores_and_this_one_does_not_count() -> None:
    import multiprocessing
    import time

    from core.backends.threads import others_busy

    started = time.perf_counter()
    while time.perf_counter() - started < 0.1:  # this process busy: its own work is not "others"
        pass
    quiet = others_busy()
    spinner = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    spinner.start()
    try:
        time.sleep(1.0)
        busy = others_busy(0.5)
    finally:
        spinner.terminate()
    assert busy >= quiet + 0.5, (quiet, busy)


def _spin() -> None:
    while True:
        pass
