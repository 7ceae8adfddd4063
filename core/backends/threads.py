"""How many CPU threads the model computes with: the cores other work leaves free.

torch starts one thread per core. On a machine where other processes already keep cores busy,
those threads queue behind them and every step waits for the slowest one: oversubscribed, a
forward pass runs several times slower than on fewer threads (benchmarks/threads.py measures
it). So the transformers backend on a CPU takes the cores it may run on less the ones the
one-minute load average says are busy, at least one; GRAM_THREADS sets the number instead.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def free_threads(configured: int | None = None, *, load: float | None = None) -> int:
    """`configured` if given, else the usable cores less the busy ones (`load`: runnable
    processes, default the one-minute load average), at least one."""
    if configured is not None:
        return configured
    cores = usable_cores()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # unknown: take every core
            return cores
    return max(1, min(cores, round(cores - load)))
