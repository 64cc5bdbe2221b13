"""The CPU this process may use."""

import os


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one: a container's or
    taskset's limit, not the machine's core count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
