"""Memory of an API process given back after bursts of aborted requests.

Two things kept a worker big after a thousand clients hung up mid-upload:

- cycles: an aborted request leaves its stream, the stream's exception and the task's
  frames in reference cycles that hold its body buffers until a full collection, which
  a server with few allocations reaches late. :func:`collect_soon` runs one at most once
  a second, and again a second after the last abort (a collection that ran while the
  last requests were still unwinding missed them);
- allocator fragmentation (glibc): the body chunks of up to 256 KiB each that the HTTP
  parser cuts from a socket read come from the heap; freed, they leave free pages
  under live small objects that the top-of-heap trim cannot return (a worker stayed
  at 280 MiB after its peak). ``malloc_trim(0)`` after the collection gives every whole
  free page back (``MADV_DONTNEED``); it walks the heap, cheap at once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 256 << 10
TRIM_THRESHOLD = 8 << 20
COLLECT_EVERY = 1.0


def _libc() -> Any:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


_LIBC = _libc()


def bound_allocator() -> None:
    """Give freed request buffers back to the system (glibc): with its default, a freed
    mmapped block raises the mmap threshold (up to 32 MiB), after which 1 MiB body
    buffers come from the heap and stay there; three rounds of aborted 5 MiB uploads
    took a worker from 300 MiB to 2.4 GiB. A fixed threshold keeps big buffers mmapped
    (returned on free) and the heap trimmed."""
    with contextlib.suppress(AttributeError):
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        _LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        _LIBC.mallopt(M_ARENA_MAX, 2)  # threads (file writes, digests) share two arenas


def freeze_startup_heap() -> None:
    """Put every object alive when a worker starts serving (modules, botocore's service
    models, the services' tables and caches) out of the cycle collector's reach
    (``gc.freeze``). A full collection walks every tracked object: on a worker of ~250,000
    it took ~180 ms of CPU each time, two or three times a minute under load (15 % of a
    CloudFormation stack's CPU), and every request in flight waited for it. Frozen
    objects are still freed by reference counting; only a cycle among them would stay,
    and they live as long as the process anyway."""
    gc.collect()
    gc.freeze()


# container allocations (net of frees) between two collections of the youngest
# generation; CPython's default is 700
YOUNG_COLLECTION_EVERY = 20_000


def space_young_collections() -> None:
    """Collect the youngest generation every ``YOUNG_COLLECTION_EVERY`` allocations
    instead of every 700. A request's objects are freed by reference counting when it
    ends; at the default the collector still ran about every ten requests to walk the
    few that live on (the group commit's pending data, caches): ~1,600 collections in a
    PutMetricData bench run of ~20,000 calls, ~8 us of CPU a call (3 % of it, timed by
    ``gc.callbacks``); at 20,000, under 100. The older generations keep their
    thresholds (counted in young collections) and aborts still get their full
    collection (:func:`collect_soon`)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)


def trim() -> None:
    """Return the allocator's whole free pages to the system (no-op off glibc)."""
    with contextlib.suppress(AttributeError):
        _LIBC.malloc_trim(0)


class _Collector:
    """Full collections after aborts: at most one per ``COLLECT_EVERY``, and always one
    at least ``COLLECT_EVERY`` after the last request asked."""

    def __init__(self) -> None:
        self.pending: asyncio.TimerHandle | None = None
        self.asked = False

    def ask(self) -> None:
        self.asked = True
        if self.pending is None:
            self.pending = asyncio.get_running_loop().call_later(COLLECT_EVERY, self.run)

    def run(self) -> None:
        self.pending = None
        asked, self.asked = self.asked, False
        gc.collect()
        trim()
        if asked:
            # requests that aborted just before this ran may still have been unwinding:
            # one more a second later (the last, if nothing asks meanwhile)
            self.pending = asyncio.get_running_loop().call_later(COLLECT_EVERY, self.run)


_collector = _Collector()


def collect_soon() -> None:
    """Collect cycles and trim the heap soon (after a client abort)."""
    _collector.ask()
