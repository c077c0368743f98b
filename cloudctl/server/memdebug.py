"""Memory diagnosis of an API process, off unless ``CLOUDCTL_TRACEMALLOC`` is set.

With ``CLOUDCTL_TRACEMALLOC=<path>`` in the environment of ``cloudctl up`` every API
process traces its Python allocations (``tracemalloc``, 16 frames) from start; each
``SIGUSR2`` to a process appends to ``<path>.<pid>`` the live allocations by source
line and the growth since the previous signal (the first signal's snapshot is the
baseline), after a full garbage collection. Tracing costs CPU and memory: a debugging
aid, never for production. Nothing here runs when the variable is unset.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
import tracemalloc

ENV = "CLOUDCTL_TRACEMALLOC"
FRAMES = 16
TOP = 25


class _Dumper:
    def __init__(self, path: str) -> None:
        self.path = f"{path}.{os.getpid()}"
        self.previous: tracemalloc.Snapshot | None = None

    def dump(self) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),))
        current, peak = tracemalloc.get_traced_memory()
        lines = [f"=== {time.strftime('%H:%M:%S')} pid {os.getpid()}: traced "
                 f"{current / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB), "
                 f"gc counts {gc.get_count()}, objects {len(gc.get_objects())}"]
        lines.append("--- largest live allocations (by line)")
        lines += [str(stat) for stat in snapshot.statistics("lineno")[:TOP]]
        if self.previous is not None:
            lines.append("--- growth since the previous dump (by traceback)")
            for stat in snapshot.compare_to(self.previous, "traceback")[:10]:
                lines.append(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks "
                             f"(now {stat.size / 1024:.1f} KiB), most recent call first:")
                lines += ["    " + line
                          for line in stat.traceback.format(most_recent_first=True)]
        self.previous = snapshot
        with open(self.path, "a") as handle:
            handle.write("\n".join(lines) + "\n")


def install(loop: asyncio.AbstractEventLoop) -> bool:
    """Start tracing and dump on SIGUSR2 if ``CLOUDCTL_TRACEMALLOC`` asks (True if so)."""
    path = os.environ.get(ENV)
    if not path:
        return False
    if not tracemalloc.is_tracing():
        tracemalloc.start(FRAMES)
    dumper = _Dumper(path)
    loop.add_signal_handler(signal.SIGUSR2, dumper.dump)
    return True
