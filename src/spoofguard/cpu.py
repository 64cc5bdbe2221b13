"""The CPU this process may use, and how much of it is free.

On a busy machine torch's default (one thread per core, spinning while it waits) fights the other
processes for every core and can run many times slower than with fewer threads (the demo: 145 s
quiet, over an hour beside other jobs, docs/benchmarks.md). :func:`share_cpu` sizes torch's thread
pool to the cores other processes leave free; the command line also asks OpenMP to sleep rather than
spin while waiting (``OMP_WAIT_POLICY=PASSIVE``) when the machine is busy at start. A user's own
``OMP_NUM_THREADS`` or ``SPOOFGUARD_THREADS`` always wins.
"""

from __future__ import annotations

import os
import time

THREADS_ENV = "SPOOFGUARD_THREADS"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one: a container's or
    taskset's limit, not the machine's core count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def busy_cores(window: float = 0.3) -> float:
    """Cores other processes keep busy now: on Linux the CPU time of the whole machine minus this
    process's own over ``window`` seconds (so a long job that calls this twice does not count itself);
    elsewhere the 1-minute load average; 0 when neither is known."""
    try:
        b0, t0, o0 = _cpu_times()
        time.sleep(window)
        b1, t1, o1 = _cpu_times()
        return max(0.0, ((b1 - b0) - (o1 - o0)) / max(1, t1 - t0) * (os.cpu_count() or 1))
    except (OSError, ValueError, IndexError):
        pass
    return _load_average()


def _load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def _cpu_times() -> tuple[int, int, int]:
    """(busy, total) clock ticks of all CPUs from /proc/stat, and this process's own (user + system)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    with open("/proc/self/stat") as f:
        own = f.read().rsplit(")", 1)[1].split()
    return sum(ticks) - idle, sum(ticks), int(own[11]) + int(own[12])


def free_cores(load: float | None = None, usable: int | None = None) -> int:
    """Usable cores minus those other processes keep busy (rounded), at least one."""
    usable = usable_cores() if usable is None else usable
    load = busy_cores() if load is None else load
    return max(1, min(usable, usable - int(load + 0.5)))


def chosen_threads(load: float | None = None, usable: int | None = None) -> tuple[int, str]:
    """(threads, why): the user's setting if there is one, else the free cores."""
    for env in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(env, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value), f"{env}={value}"
    usable = usable_cores() if usable is None else usable
    load = busy_cores() if load is None else load
    n = free_cores(load, usable)
    return n, ("" if n == usable else f"the CPU is busy (load {load:.1f} on {usable} cores)")


_shared = {"ceiling": None, "set": None}  # the caller's own thread count, and what share_cpu last set


def share_cpu(say=print) -> int:
    """Set torch's intra-op threads to :func:`chosen_threads`, never above the caller's own count (a
    caller that set fewer keeps them); say so when the machine is busy. Called again in the same
    process (cv folds, compare), it starts from the caller's count, not from what a busy moment
    lowered it to: threads come back when the machine is quiet again."""
    import torch

    n, why = chosen_threads()
    if why.startswith(("OMP", THREADS_ENV)):
        torch.set_num_threads(n)
        return n
    current = torch.get_num_threads()
    if _shared["ceiling"] is None or current != _shared["set"]:  # first call, or the caller changed it since
        _shared["ceiling"] = current
    n = min(n, _shared["ceiling"])
    torch.set_num_threads(n)
    _shared["set"] = n
    if why:
        say(f"note: {why}: using {n} thread(s) so the other work and this one both progress (set {THREADS_ENV} to choose)")
    return n


def prefer_passive_waiting() -> None:
    """Before torch is imported: on a busy machine, OpenMP threads sleep instead of spinning while
    they wait (a spinning waiter takes a core another process needed). Call it before importing torch.
    It looks at what the CPU does now (a 0.2 s sample), not the 1-minute load average: the average
    still counts a job that has just ended, and sleeping waiters on a machine that is quiet again cost
    a fifth to half of training's speed (NUAA fine-tuning: 509 against 401 images/s)."""
    if "OMP_WAIT_POLICY" not in os.environ and free_cores(load=busy_cores(window=0.2)) < usable_cores():
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
