"""How many CPU threads the model computes with: the cores other work leaves free.

torch starts one thread per core. On a machine where other processes already keep cores busy,
those threads queue behind them and every step waits for the slowest one: oversubscribed, a
forward pass runs several times slower than on fewer threads (benchmarks/threads.py measures
it). So the transformers backend on a CPU takes the cores it may run on less the ones other
processes keep busy (sampled for a quarter of a second when the model loads; this process's own
work, loading the model, is not counted), at least one; GRAM_THREADS sets the number instead.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def others_busy(seconds: float = 0.25) -> float:
    """How many cores other processes kept busy over the last `seconds` (the machine's busy time
    less this process's own)."""
    import time

    import psutil

    me = psutil.Process()
    me.cpu_percent(None)
    psutil.cpu_percent(None)
    time.sleep(seconds)
    machine = psutil.cpu_percent(None) / 100 * (os.cpu_count() or 1)
    return max(0.0, machine - me.cpu_percent(None) / 100)


def free_threads(configured: int | None = None, *, busy: float | None = None) -> int:
    """`configured` if given, else the usable cores less those other processes keep busy (`busy`,
    default `others_busy()`), at least one."""
    if configured is not None:
        return configured
    cores = usable_cores()
    busy = others_busy() if busy is None else busy
    return max(1, min(cores, round(cores - busy)))
