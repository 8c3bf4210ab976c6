"""How many cores this process may use, and how many other tasks are running on them now.

The query path decides per question whether a second thread would find a free core: the int8
encoder's spinning session (`qa.onnx_encoder`) and the split sentence scan (`qa.retrieval`).
With every core taken, a second thread only waits for one and slows the question down.
"""

from __future__ import annotations

import os


def cpu_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_cores() -> int:
    """How many other tasks are running right now (runnable, on any core), from the kernel's
    count in `/proc/loadavg` less this thread; 0 where that file does not exist."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


def free_cores_for(threads: int) -> bool:
    """Whether `threads` threads of this process would each find a core free right now."""
    return threads > 1 and busy_cores() + threads <= cpu_cores()
