"""Periodic timers that share their wake-ups: an idle process wakes once for all of them.

An idle API process wakes only for its timers: the property poll and the connection
watchdog every second, the registry's heartbeat, every controller's resync. A wake-up of
an idle process costs far more than its work: its code and data have left the CPU's
caches (and, on a shared or virtual machine, the core it ran on), so one controller's
resync that takes 0.4 ms of CPU right after another takes 1.5 ms alone. Timers that
each keep their own phase wake the process 20 times a second for work worth a few.

A periodic timer therefore ends on a shared grid: its deadline is moved to the nearest
whole multiple of the grid's step on the loop's clock (monotonic, the same in every
process), and every timer due at that instant runs in one wake-up. The step is ``GRID``
(1 s) for delays under ``COARSE_FROM``, ``COARSE_GRID`` (5 s) from there on, so the
heartbeat's 5 s, the 10 s resyncs and the minute of an idle controller meet too; a
deadline moves by at most half a step (2.5 s on a delay of 5 s or more). A period keeps
its length (a timer that fired late by a little asks for the grid point it would have
had on time); delays shorter than ``GRID`` are not moved (they are waits for
something, not periodic work).

Must not: be used for a timer whose exact moment matters (a backoff, a deadline a
client sees); it is for idle work that runs "about every N seconds".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

GRID = 1.0  # seconds between the instants periodic timers may end on
COARSE_FROM = 5.0  # delays from this long on end on the coarser grid
COARSE_GRID = 5.0


def deadline(delay: float, now: float) -> float:
    """When a periodic timer of ``delay`` seconds set at ``now`` (the loop's clock) ends:
    the grid instant nearest to ``now + delay``, never before ``now``; a delay shorter
    than ``GRID`` unmoved."""
    if delay < GRID:
        return now + delay
    step = COARSE_GRID if delay >= COARSE_FROM else GRID
    return max(now, round((now + delay) / step) * step)


async def sleep(delay: float) -> None:
    """``asyncio.sleep`` for periodic work: ends on the shared grid."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    await asyncio.sleep(deadline(delay, now) - now)


def call_later(delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
    """``loop.call_later`` for periodic work: fires on the shared grid."""
    loop = asyncio.get_running_loop()
    return loop.call_at(deadline(delay, loop.time()), callback)
