"""Peak resident memory, as the benchmarks report it (in MB), and the fresh processes they measure in.

Each benchmark phase runs in a fresh (spawned) child process so that its figure is its own. Linux
carries `ru_maxrss` across exec, though, so a child spawned by a parent that had grown larger (by
generating or ingesting the data, say) would report the parent's peak. `VmHWM` starts afresh with
each program, so it is read instead where /proc has it.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
from typing import Any


def peak_mb() -> float:
    """This process's own peak resident memory."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start this process's peak afresh (Linux: writing 5 to clear_refs resets `VmHWM`), so the
    next `peak_mb` is that of what follows; elsewhere it stays the process's peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def children_peak_mb() -> float:
    """The largest peak among this process's finished children (a forked child counts the pages
    it inherited)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def in_child(target: Any, *args: Any) -> Any:
    """Run `target(*args, queue)` in a fresh spawned process; what it puts on the queue."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result
