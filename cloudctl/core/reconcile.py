"""The one reconcile base every controller of the cloud is built on.

Level-triggered, in the shape of kubernetes/sample-controller: a controller names
the keys that may need work (``list_keys``: a full resync at start and every
``interval()`` seconds) and converges one key at a time (``sync``). API calls only
``wake`` a key early; nothing depends on a wake-up arriving, because the timer's
resync finds every key from the database again. A wake in a process that does not
lead the kind (an API host, another worker) is sent to the one that does
(``cloudctl.core.wakes``: NOTIFY on PostgreSQL, a unix socket between the workers of
an SQLite cloud), and taken there by ``woken``.

The contract a subclass keeps:

- ``sync(key)`` reads the desired state (rows) and the observed state (agents),
  applies idempotent steps and records the result with conditional writes; it is
  safe to run again after a crash at any point, and never runs twice at once for
  one key (a wake during a sync queues one more sync after it);
- ``sync`` returns normally when the key is done for now; it raises ``Retry(delay)``
  to be looked at again after ``delay`` seconds (waiting on something else, not a
  failure); any other exception is a failure: the key backs off exponentially
  (``base_backoff * 2**(failures-1)``, capped at ``max_backoff``) and
  ``on_failure(key, count, exc)`` may give up on it (record an error state);
- a key waiting out a backoff or a Retry is not re-queued by the resync (its timer
  fires it); ``wake(key)`` overrides the wait.

Idle: a controller whose every key is signalled by a wake (the API call that creates
or changes the row wakes it) sets ``idle_interval``; after a resync that listed no
key, with no key queued, running or waiting on a timer, the next resync comes after
``max(interval(), idle_interval)`` instead: an idle cloud does not read its tables
every second or two, and a lost wake still costs only time (at most that long). A
wake ends the idle wait (a resync at once, and the usual interval after it while the
controller has something: a key waking up may be followed by work that only the
resync finds, such as new objects of a bucket that now replicates).

Leadership: ``run`` only acts while ``leader()`` is true (the process that runs
controllers: worker 0) *and* the process's election (``cloudctl.core.election``) gives
it a term for the controller's ``name``: the embedded cloud's ``LocalElection`` always
does; with ZooKeeper one host's controller process leads each kind. ``run`` stands
for the kind, resyncs at once when it wins, and stops acting when it loses (queued
keys are dropped; the next leader's resync finds them in the database). A controller
that serves another one in the same process (the node monitor is the compute
controller's view of the nodes) names that one's ``kind``: it stands in the same
election, so both are led by one host (leaders elected apart, the compute controller
would act on no observation and the monitor's would go unused), and its writes are
fenced by that kind's term.

Fencing: each sync and resync runs with its term in ``cloudctl.core.fencing.TERM``, so
every write transaction it commits is checked against ``leader_terms``; a refused one
(``Fenced``: a newer leader exists) makes this process a standby, not a failure.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from cloudctl.core import election, ticks, wakes
from cloudctl.core.fencing import TERM, Fenced, Term

log = logging.getLogger(__name__)

Leadership = Callable[[], bool]


def always_leader() -> bool:
    return True


class Retry(Exception):
    """The key waits for something else: sync it again after ``delay`` seconds."""

    def __init__(self, delay: float = 1.0) -> None:
        super().__init__(delay)
        self.delay = delay


def _stop_if_cancelled(exc: Exception) -> None:
    """A failure that ended a step of a task being cancelled (a library turned the
    cancellation into another error) ends the task: a controller that carried on as
    after an ordinary failure would never stop, and a worker's stop awaits it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc


class Reconciler(ABC):
    """Keys on a queue, per-key capped exponential backoff, resync on a timer."""

    name = "reconciler"
    kind = ""  # the elected kind whose leader runs this controller ("": its own name)
    workers = 4
    base_backoff = 0.5
    max_backoff = 60.0
    idle_interval: float | None = None  # see "Idle" above; None: always ``interval()``

    def __init__(self, *, leader: Leadership = always_leader) -> None:
        self.leader = leader
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._resync = asyncio.Event()
        self.resyncs = 0
        self._listed = 0  # keys the last resync listed
        self._idle_wait = False  # the run loop waits out an ``idle_interval``

    # -- what a controller provides ------------------------------------------------------

    @abstractmethod
    async def list_keys(self) -> Iterable[str]:
        """Every key that may need work now (read from the desired state)."""

    @abstractmethod
    async def sync(self, key: str) -> None:
        """Converge one key; raise ``Retry`` to look again later."""

    def interval(self) -> float:
        """Seconds between full resyncs (usually a cloud property)."""
        return 10.0

    async def on_failure(self, key: str, count: int, exc: Exception) -> None:
        """A sync of ``key`` failed for the ``count``-th time in a row (hook).

        By default nothing happens: the key keeps backing off.
        """
        del key, count, exc

    # -- queue ---------------------------------------------------------------------------

    def wake(self, key: str) -> None:
        """Sync ``key`` soon, even if it is waiting out a backoff (idempotent).

        While this process does not lead the kind, the wake goes to the process that
        does (``cloudctl.core.wakes``: another worker or host; best effort, as the
        leader's resync finds the key in the database anyway).
        """
        if self.term() is None:
            wakes.forward(self.name, key)
            return
        self._enqueue(key)

    def woken(self, key: str | None) -> None:
        """A wake sent by another process (``key`` None: resync everything): acted on
        only while leading, never sent on (a standby drops it)."""
        if self.term() is None:
            return
        if key is None:
            self._resync.set()
        else:
            self._enqueue(key)

    def _enqueue(self, key: str) -> None:
        if self.term() is None:
            return
        if self._idle_wait:
            self._idle_wait = False
            self._resync.set()
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._running:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    @property
    def elected_kind(self) -> str:
        """The kind this controller's leadership is elected (and fenced) as."""
        return self.kind or self.name

    def term(self) -> Term | None:
        """This process's term for the controller, None while it does not lead."""
        if not self.leader():
            return None
        return election.current().leads(self.elected_kind)

    def _leadership_changed(self) -> None:
        if self.term() is not None:
            self.resync_now()
            return
        for timer in self._timers.values():  # standby: the leader owns the keys now
            timer.cancel()
        self._timers.clear()
        self._failures.clear()

    def resync_now(self) -> None:
        """Run a full resync now instead of at the next interval (in the process that
        leads the kind: forwarded from any other)."""
        self._resync.set()
        if self.term() is None:
            wakes.forward(self.name, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def waiting(self, key: str) -> bool:
        """Whether ``key`` waits on a backoff or Retry timer."""
        return key in self._timers

    def _later(self, key: str, delay: float) -> None:
        if key in self._timers:
            return

        def fire() -> None:
            self._timers.pop(key, None)
            self._enqueue(key)

        self._timers[key] = asyncio.get_running_loop().call_later(delay, fire)

    # -- running -------------------------------------------------------------------------

    async def resync(self) -> None:
        """Queue every listed key that is not waiting on a timer."""
        self.resyncs += 1
        term = self.term()
        if term is None:
            return
        token = TERM.set(term)
        self._listed = -1  # until listed: a failed resync is not an idle one
        try:
            keys = list(await self.list_keys())
        finally:
            TERM.reset(token)
        self._listed = len(keys)
        for key in keys:
            if key not in self._timers:
                self._enqueue(key)

    async def process(self, key: str) -> None:
        """One sync of ``key`` with its outcome applied (Retry, backoff, success)."""
        term = self.term()
        if term is None:
            return  # queued before leadership ended
        self._running.add(key)
        token = TERM.set(term)
        try:
            await self.sync(key)
            self._failures.pop(key, None)
        except Fenced as fenced:
            log.warning("%s: %s", self.name, fenced)
            election.current().fenced(self.elected_kind, fenced.term)
        except Retry as wait:
            self._later(key, wait.delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _stop_if_cancelled(exc)
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            delay = min(self.max_backoff, self.base_backoff * 2 ** (count - 1))
            log.warning("%s: sync of %s failed (%d, retry in %.1fs): %s",
                        self.name, key, count, delay, exc)
            try:
                await self.on_failure(key, count, exc)
            except Exception:
                log.exception("%s: failure hook of %s failed", self.name, key)
            self._later(key, delay)
        finally:
            TERM.reset(token)
            self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._enqueue(key)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            await self.process(key)

    async def drain(self) -> None:
        """Process queued keys in this task until the queue is empty (tests, one-shots)."""
        while not self._queue.empty():
            key = self._queue.get_nowait()
            self._queued.discard(key)
            await self.process(key)

    async def run_once(self) -> None:
        """A full resync and every key it queued, in the caller's task."""
        await self.resync()
        await self.drain()

    def has_work(self) -> bool:
        """Whether the last resync listed a key (or failed), or a key is queued, running
        or waiting on a timer."""
        return bool(self._listed or self._queued or self._running or self._timers)

    def next_interval(self) -> float:
        """Seconds until the next full resync: ``interval()``, or ``idle_interval`` when
        longer and the leading controller has nothing at all (nothing listed, queued,
        running or waiting); a standby keeps ``interval()``, a leadership callback
        missed costs no more than before."""
        interval = self.interval()
        idle = self.idle_interval
        if idle is None or self.has_work() \
                or self.term() is None:  # a standby looks for its term every interval
            return interval
        return max(interval, idle)

    async def _resync_once_more_on_failure(self) -> None:
        """A resync, tried again at once when it fails: a transient failure (a database
        connection that died while in use is replaced at the next checkout) is not an
        error; a second failure is logged and the next interval tries again."""
        try:
            await self.resync()
            return
        except Exception as exc:
            _stop_if_cancelled(exc)
        try:
            await self.resync()
        except Exception as exc:
            _stop_if_cancelled(exc)
            log.exception("%s: resync failed twice", self.name)

    async def run(self) -> None:
        """Resync at start and every interval while leader; workers drain the queue."""
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-{i}")
                 for i in range(self.workers)]
        if self.leader():
            election.current().campaign(self.elected_kind, self._leadership_changed)
            wakes.register(self.name, self.woken)
        try:
            while True:
                if self.term() is not None:
                    await self._resync_once_more_on_failure()
                # the interval's end sets the event too: a timer, not wait_for's task and
                # timeout per round (the network controller and publisher poll 4-5 times
                # a second), on the process's shared grid (``cloudctl.core.ticks``: the
                # resyncs of every controller, due about together, take one wake-up)
                wait = self.next_interval()
                self._idle_wait = wait > self.interval()
                timer = ticks.call_later(wait, self._resync.set)
                try:
                    await self._resync.wait()
                finally:
                    timer.cancel()
                    self._idle_wait = False
                self._resync.clear()
        finally:
            wakes.unregister(self.name, self.woken)
            for task in tasks:
                task.cancel()
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
