"""One writer per process on SQLite: write transactions queue on the event loop.

SQLite has one write lock per database. When every aiosqlite connection was a thread
and many transactions wrote at once, all but one thread slept in SQLite's busy handler,
which polls in growing steps (up to 100 ms) and so kept sleeping after the lock was
free: under 64 clients ~18 threads slept while ~3 ran, and write p99 reached seconds.

The gate (:class:`WriteGate`) is one per engine. A connection takes it just before its
first INSERT/UPDATE/DELETE (where Python's ``sqlite3`` opens the transaction, so the
transaction starts holding SQLite's write lock, as ``BEGIN IMMEDIATE`` would) and
gives it back when the connection returns to the pool, after its commit or rollback.
Waiting writers wait as coroutines, in arrival order, not as threads; reads never
take it (WAL readers do not block). Between the API processes of one cloud the gate
holder also takes an ``flock`` on ``<database>-writer.lock`` (one thread per process
waits there, woken by the kernel the moment it is free), so SQLite's busy handler only
runs against writers outside the gate (``cloudctl`` commands, migrations).

Between processes writers go in the order they arrived (``time.monotonic_ns()`` when a
writer asked for the gate; CLOCK_MONOTONIC is one clock for the whole system). Each
process publishes on the arrival board (``writearrivals.py``: a small file mapped into
every process, one slot per pid) the arrival of its oldest waiting writer; a holder
whose next queued writer arrived before every other process's oldest keeps the lock for
it, otherwise gives it back, and the waiting process, which waits in a turnstile
(``<database>-writer.lock.queue``) that the holder's next writer must pass too, goes
next. The board costs no system call (memory reads and stores; a few per transaction).
Before it, the processes took turns one transaction each while both had writers waiting:
with unequal queues (the kernel spreads the clients' connections unequally) the longer
queue's writers waited several times longer (``tests/unit/test_writegate_arrival.py``:
12 writers against 3, mean wait ~160 against ~37 ms before, ~78 against ~80 after; the
load bench's write p99 fell by a fifth to a third, bench/results/load.md, session 13). The
turnstile (``tests/unit/test_writegate_fair.py``) keeps the holder's next writer from
taking the lock again before the other process's thread, woken by the kernel, has run.
The board is advice: a process without a slot, or a stale or garbled entry, costs at
worst a lock given back that could have been kept; and a holder that kept the lock
``KEEP_CHECK`` times in a row looks at the turnstile for a process the board does not
show. A killed holder's ``flock`` goes with its process.

No group commit on this path (evaluated; S3's small PUTs have one, ``fastsql.py``):
batching several API calls into one transaction needs every batched call on one
shared connection, each inside its own SAVEPOINT so that a failing call rolls back
alone. Savepoints nest, so the calls' statements cannot interleave: call B's first
statement waits for call A's RELEASE, which is today's serialisation again, and every
read a call makes before its first write (now on its own pooled connection, outside
the gate) would have to move inside the shared transaction, lengthening it. What a
batch saves is the COMMIT, and with WAL and ``synchronous=NORMAL`` a commit does not
sync: it is one statement, one thread hop of ~1-2 ms. Measured under 64 clients
(bench/load.py, 2 workers): the gate is held ~6 ms per write transaction (p50 3-7 ms,
p90 9-16 ms, mostly the statements' thread hops waiting for a busy event loop) while
writers wait for it 200-350 ms; one hop less per call is worth less than the risk of
one call's failure or a slow call holding back the commit of the others.

Statements on the event loop: since session 11 every ORM statement on SQLite runs on
the loop's thread (``loopdriver.py``), not only a gated connection's (session 6 tried
that alone: the gate was held 1.6 ms at p50 instead of 7.6 ms, write p99 fell 8-25 %,
reads' p50 rose 3-5x under 64 clients). With every statement there, the server CPU a
request falls by a quarter to a half (no thread hand-offs), a writer holding the gate
runs its statements and commit without yielding, and readers yield once between
statements so that short requests interleave. See bench/results/load.md (session 11).

Must not: be taken twice by one task (a second write transaction opened while the
first is uncommitted waits ``GATE_TIMEOUT`` and fails, as SQLite's busy timeout did).
PostgreSQL has no gate.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from cloudctl.db.writearrivals import ArrivalBoard

GATE_TIMEOUT = 30.0  # seconds; SQLite's busy timeout, which this replaces in-process
_HELD = "cloudctl.write_gate"
KEEP_CHECK = 32  # kept transactions in a row after which the turnstile is looked at
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


class WriteGate:
    """The right to write: a FIFO slot in the process, then the cross-process lock.

    Between processes, ``lock_path`` is the lock (``flock``) and ``queue_path`` the
    turnstile in front of it: a process takes the turnstile, then the lock, then gives
    the turnstile back, so a process waiting for the lock holds the turnstile and the
    holder's next writer queues behind it in the kernel (without the turnstile the
    holder's next writer took the lock again at once, before the woken waiter of the
    other process ran). A holder with writers queued in-process keeps the lock for the
    next of them while it arrived before every other process's oldest waiting writer
    (``arrivals``, the board at ``<lock_path>.arrivals``); otherwise the oldest elsewhere
    goes next. A killed holder's locks go with its process.
    """

    def __init__(self, lock_path: str, queue_path: str | None = None) -> None:
        self.lock_path = lock_path
        self.queue_path = queue_path or lock_path + ".queue"
        self.arrivals = ArrivalBoard(lock_path + ".arrivals")
        self._held = False
        self._arrival = 0  # when the slot's holder arrived (time.monotonic_ns)
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()  # (arrival, waiter)
        self._fds = (-1, -1)
        self._fd_pid = 0
        self._locked = False  # this process holds the cross-process lock
        self._kept = 0  # transactions the lock was kept for in a row
        self._pending = 0  # lock requests on the thread (counted under _count)
        self._count = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-write-gate")

    @property
    def held(self) -> bool:
        return self._held

    def _files(self) -> tuple[int, int]:
        """(lock, turnstile) descriptors of this process (flock is per open file)."""
        if self._fd_pid != os.getpid():  # a forked worker opens its own
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._fds = (os.open(self.lock_path, flags, 0o600),
                         os.open(self.queue_path, flags, 0o600))
            self._fd_pid = os.getpid()
            self._locked = False
        return self._fds

    def _lock_now(self) -> bool:
        """Take the lock without waiting, through a free turnstile (nobody queued)."""
        if self._pending:  # a request on the thread owns the descriptors' lock state
            return False
        lock, queue = self._files()
        if not _flock_nb(queue):
            return False
        try:
            got = _flock_nb(lock)
        finally:
            fcntl.flock(queue, fcntl.LOCK_UN)
        if got:
            self._locked = True
        return got

    def try_acquire(self) -> bool:
        """Take the gate if that needs no wait (for code running on the loop, unawaited)."""
        if self._held or self._waiters or not self._lock_now():
            return False
        self._held = True
        self._arrival = time.monotonic_ns()
        return True

    async def acquire(self) -> None:
        arrival = time.monotonic_ns()
        try:
            async with asyncio.timeout(GATE_TIMEOUT):
                await self._slot(arrival)
                try:
                    await self._lock()
                except BaseException:
                    self._pass_slot()
                    raise
        except TimeoutError:
            raise TimeoutError(f"no database write slot within {GATE_TIMEOUT:.0f}s") from None

    async def _slot(self, arrival: int) -> None:
        if not self._held and not self._waiters:
            self._held = True
            self._arrival = arrival
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (arrival, waiter)
        self._waiters.append(entry)
        if len(self._waiters) == 1:
            self._publish()  # the oldest waiting, if the holder has the lock
        try:
            await waiter
        except BaseException:
            # The error raised here must be the one that arrived (a cancellation stays a
            # cancellation: a task that saw another exception would carry on, and a stop
            # awaiting it would wait for ever). A waiter cancelled while queued may already
            # have been dropped by _pass_slot (a holder released before this task resumed).
            if waiter.done() and not waiter.cancelled():
                self._pass_slot()  # handed over just as this task was cancelled
            elif entry in self._waiters:
                self._waiters.remove(entry)
                self._publish()
            raise

    async def _lock(self) -> None:
        if self._locked:  # kept for this process's queue by the previous holder
            return
        self._publish()  # the holder waits: its arrival
        if self._lock_now():
            self._publish()
            return
        lock, queue = self._files()
        pending = self._thread.submit(_queue_and_lock, lock, queue)
        self._count_pending(1)
        try:
            await asyncio.shield(asyncio.wrap_future(pending))
        except BaseException:
            # cancelled while another process writes: unlock when the thread gets it
            def unlock(done: Any) -> None:
                if done.exception() is None:
                    fcntl.flock(lock, fcntl.LOCK_UN)
                self._count_pending(-1)  # after the unlock: the loop's next try sees it free

            pending.add_done_callback(unlock)
            raise
        self._count_pending(-1)
        self._locked = True
        self._publish()

    def _count_pending(self, change: int) -> None:
        with self._count:
            self._pending += change

    def _publish(self) -> None:
        """Put this process's oldest waiting writer on the arrival board: the slot's
        holder while it waits for the lock, else the first queued writer (0: none)."""
        if not self._held:
            oldest = 0
        elif not self._locked:
            oldest = self._arrival
        else:
            oldest = self._waiters[0][0] if self._waiters else 0
        self.arrivals.publish(oldest)

    def _hand_over(self) -> bool:
        """Whether the holder gives the lock back rather than keep it for the next writer
        queued in this process: none is queued, or another process's oldest waiting
        writer arrived before it. Every ``KEEP_CHECK`` kept transactions in a row, or
        always when this process has no slot on the board, the turnstile is looked at
        too: a process waits there that the board does not show (it has no slot)."""
        if not self._waiters:
            return True
        if self.arrivals.older_elsewhere(self._waiters[0][0]):
            return True
        self._kept += 1
        if (self._kept % KEEP_CHECK == 0 or not self.arrivals.published) and self._other_waits():
            return True
        return False

    def _other_waits(self) -> bool:
        """Whether another process waits for the lock (it holds the turnstile)."""
        queue = self._files()[1]
        if not _flock_nb(queue):
            return True
        fcntl.flock(queue, fcntl.LOCK_UN)
        return False

    def release(self) -> None:
        if self._locked and self._hand_over():
            self._unlock()
        self._pass_slot()

    def _unlock(self) -> None:
        fcntl.flock(self._files()[0], fcntl.LOCK_UN)
        self._locked = False
        self._kept = 0

    def _pass_slot(self) -> None:
        while self._waiters:
            arrival, waiter = self._waiters.popleft()
            if not waiter.done():
                self._arrival = arrival
                waiter.set_result(None)  # the slot stays held: it is the waiter's now
                self._publish()
                return
        self._held = False
        if self._locked:  # nobody left to keep it for
            self._unlock()
        self._publish()


def _flock_nb(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _queue_and_lock(lock: int, queue: int) -> None:
    """On the gate's thread: wait in the turnstile, then for the lock; the turnstile is
    given back once the lock is held (the next process in line waits in it)."""
    fcntl.flock(queue, fcntl.LOCK_EX)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
    finally:
        fcntl.flock(queue, fcntl.LOCK_UN)


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def gate_for(engine: AsyncEngine | Engine) -> WriteGate | None:
    """The write gate of ``engine`` (None: not a gated SQLite engine)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    return _GATES.get(sync)


def is_write(statement: str, context: Any) -> bool:
    """Whether a statement writes rows (INSERT, UPDATE, DELETE, REPLACE)."""
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return statement.lstrip()[:6].upper() in _WRITES


def install(engine: AsyncEngine, database_path: str) -> WriteGate:
    """Gate the write transactions of ``engine`` (SQLite at ``database_path``)."""
    sync = engine.sync_engine
    gate = WriteGate(database_path + "-writer.lock")
    _GATES[sync] = gate

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
                _many: bool) -> None:
        info = conn.connection.info
        if info.get(_HELD) or not is_write(statement, context):
            return
        await_only(gate.acquire())
        info[_HELD] = True

    @event.listens_for(sync.pool, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop(_HELD, False):
            gate.release()

    @event.listens_for(sync.pool, "invalidate")
    def _invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        if record is not None and record.info.pop(_HELD, False):
            gate.release()

    return gate
