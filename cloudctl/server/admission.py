"""Write admission on PostgreSQL: a few write requests at a time per worker, in arrival order.

On SQLite every write transaction waits at the write gate (``cloudctl/db/writegate.py``)
as one parked coroutine, so a worker's event loop carries the reads and one writer, and
a read is answered within a pass or two. PostgreSQL has no gate: under 64 clients
about forty writes ran at once in the two workers, each a chain of round trips, each
round trip a step every loop pass had to run; a pass took 15-40 ms and a GET, which
needs five or six passes, waited ~75-115 ms at p50 where SQLite's took ~9
(bench/results/load.md, session 14).

:class:`WriteAdmission` bounds the write requests a worker runs at once (``slots``,
the property ``bootstrap.webservices.pg_write_slots``); the others wait as parked
futures, first come first served, before their handler starts. Reads are never
queued. A request is a write unless its operation reads by name (``Get``,
``Describe``, ``List``, ``Head``): a read taken for a write only waits its turn, a
write taken for a read (``GetSessionToken``) only runs unbounded.

A slot is a lease: a request holding one longer than ``LEASE`` seconds stops counting
(the oldest first, when someone waits), so a slow uploader or a handler waiting on
another request can delay the queue by at most a lease, never wedge it.

Must not: be held across a wait for another request's admission (a lease ends it,
but the queue stalls meanwhile).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

LEASE = 1.0  # seconds a write request counts against the slots at most
READ_VERBS = ("Get", "Describe", "List", "Head")


def is_write(operation: str) -> bool:
    """Whether ``operation`` is admitted as a write (its name is not a read's)."""
    return not operation.startswith(READ_VERBS)


class WriteAdmission:
    """The write requests one worker runs at once; see the module docstring."""

    def __init__(self, lease: float = LEASE) -> None:
        self.lease = lease
        self.expired = 0  # leases that ran out (requests that held a slot too long)
        self._holders: dict[int, float] = {}  # ticket -> admitted at (loop time), oldest first
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._tickets = itertools.count(1)
        self._slots = 1
        self._timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> int:
        return len(self._holders)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def admit(self, slots: int) -> int:
        """Wait for one of ``slots`` write slots; the ticket to :meth:`release`."""
        self._slots = max(1, slots)
        loop = asyncio.get_running_loop()
        if not self._waiters and len(self._holders) < self._slots:
            return self._enter(loop)
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiters.append(waiter)
        self._arm(loop)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # admitted, then cancelled before it ran
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self, ticket: int) -> None:
        """End ``ticket``'s slot (again, or after its lease ran out: nothing)."""
        if self._holders.pop(ticket, None) is not None and self._waiters:
            self._admit_waiters()

    def _enter(self, loop: asyncio.AbstractEventLoop) -> int:
        ticket = next(self._tickets)
        self._holders[ticket] = loop.time()
        return ticket

    def _admit_waiters(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters and len(self._holders) < self._slots:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter leaves on its own
                waiter.set_result(self._enter(loop))

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer at the oldest lease's end while someone waits (never re-armed for
        each release: when it fires early it looks again)."""
        if self._timer is None and self._holders:
            self._timer = loop.call_at(next(iter(self._holders.values())) + self.lease,
                                       self._expire)

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiters and len(self._holders) >= self._slots:
            ticket, since = next(iter(self._holders.items()))
            if since + self.lease > now:
                break
            del self._holders[ticket]
            self.expired += 1
        self._admit_waiters()
        if self._waiters:
            self._arm(loop)
