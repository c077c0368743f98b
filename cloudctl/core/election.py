"""Who leads each controller kind: worker 0 (embedded) or a ZooKeeper election.

One ``Election`` per process, chosen by configuration (``install``), never by
fallback: without ``CLOUDCTL_ZOOKEEPER`` (the embedded single-host cloud) the
``LocalElection`` lets the controller process (worker 0) lead every kind, unfenced, as
before; with it, ``ZooKeeperElection`` runs one election per kind among the cloud
hosts' controller processes, and a ZooKeeper that cannot be reached means no leader
here (controllers wait: safe), not a local one.

The ZooKeeper election is the classic recipe: each candidate creates an ephemeral
sequential znode ``/cloudctl/election/<kind>/n_<seq>``; the lowest leads, every other
candidate watches the znode just before its own. The winner's sequence number is its
epoch: it claims the kind in the database (``leader_terms``: ``UPDATE ... SET epoch = :e
WHERE kind = :k AND epoch < :e``) before it acts, and its writes are fenced by that
epoch (``cloudctl.core.fencing``). A suspended connection stops the leader acting at
once (it may be expiring); a lost session forgets its znodes and campaigns again. A
candidate first at the line writes its own znode before it claims: only an ensemble with
a quorum commits it (a server cut off from the rest still answers reads for a moment),
and takes the term only if its connection did not break between that write and the
claim (a reconnection may have been to such a server): else it proves the quorum again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudctl.core.fencing import Term

log = logging.getLogger(__name__)

ROOT = "/cloudctl/election"
Claim = Callable[[str, int], Awaitable[bool]]
Release = Callable[[str, int], Awaitable[None]]


class Election(Protocol):
    """Leadership of controller kinds in this process."""

    def campaign(self, kind: str, on_change: Callable[[], None]) -> None:
        """Stand for ``kind``; ``on_change`` runs (in the loop) when this process gains
        or loses it. Several controllers may campaign for one kind (a controller and
        the ones that serve it): one candidacy, every callback runs."""

    def leads(self, kind: str) -> Term | None:
        """The current term if this process leads ``kind``, else None."""

    def fenced(self, kind: str, term: Term) -> None:
        """A write under ``term`` was refused: stop leading, stand again as a standby."""

    def set_enabled(self, enabled: bool) -> None:
        """Disabled: give up every kind and stand for none until enabled again."""

    def leading(self) -> list[Term]:
        """Every kind this process leads now."""

    def candidacies(self) -> list[str]:
        """Every kind this process stands for."""

    def status(self) -> str:
        """How this process reaches the ensemble, for the service registry ("" when it
        needs none)."""

    async def stop(self) -> None:
        """Give up every kind and close the connection."""


class LocalElection:
    """The embedded cloud: this process leads whatever it stands for (unfenced)."""

    def __init__(self, host: str = "") -> None:
        self.host = host
        self._kinds: set[str] = set()
        self._enabled = True

    def campaign(self, kind: str, on_change: Callable[[], None]) -> None:
        del on_change
        self._kinds.add(kind)

    def leads(self, kind: str) -> Term | None:
        return Term(kind, None, self.host) if self._enabled else None

    def fenced(self, kind: str, term: Term) -> None:
        del kind, term

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def leading(self) -> list[Term]:
        return [Term(kind, None, self.host) for kind in sorted(self._kinds)] \
            if self._enabled else []

    def candidacies(self) -> list[str]:
        return sorted(self._kinds)

    def status(self) -> str:
        return ""

    async def stop(self) -> None:
        self._kinds.clear()


class NeverLeads(LocalElection):
    """A process that runs no controllers (an API-only worker of a ZooKeeper cloud)."""

    def leads(self, kind: str) -> Term | None:
        return None

    def leading(self) -> list[Term]:
        return []

    def candidacies(self) -> list[str]:
        return []


class ZooKeeperElection:
    """One election per controller kind through a ZooKeeper ensemble."""

    def __init__(self, hosts: str, host: str, claim: Claim, release: Release, *,
                 session_timeout: float = 10.0) -> None:
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        self.host = host
        self._claim = claim
        self._release = release
        self._client = KazooClient(
            hosts=hosts, timeout=session_timeout,
            connection_retry=KazooRetry(max_tries=-1, max_delay=2.0),
            command_retry=KazooRetry(max_tries=3, max_delay=1.0))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()  # terms are read from the loop, cleared by kazoo
        self._terms: dict[str, Term] = {}
        self._nodes: dict[str, tuple[str, int]] = {}  # kind -> (znode, session id)
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._busy: dict[str, asyncio.Lock] = {}
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._enabled = True
        self._stopping = False
        self._reachable = False
        self._since = datetime.now(UTC)  # of the current reachability
        self._breaks = 0  # connection breaks (SUSPENDED or LOST) so far: a term needs none
        # between the write that proves the quorum and the moment it is taken

    # -- lifetime ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying for ever): until then nothing leads."""
        self._loop = asyncio.get_running_loop()
        self._client.add_listener(self._state)
        self._client.start_async()

    async def stop(self) -> None:
        self._stopping = True
        for kind in list(self._terms):
            await self._resign(kind)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._client.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._client.close)

    @property
    def client_id(self) -> tuple[int, bytes]:
        """The ZooKeeper session (id, password) this process campaigns in."""
        session: tuple[int, bytes] = self._client.client_id or (0, b"")
        return session

    # -- the Election protocol -----------------------------------------------------------

    def campaign(self, kind: str, on_change: Callable[[], None]) -> None:
        self._callbacks.setdefault(kind, []).append(on_change)
        self._kick(kind)

    def leads(self, kind: str) -> Term | None:
        return self._terms.get(kind)

    def candidacies(self) -> list[str]:
        return sorted(self._callbacks)

    def status(self) -> str:
        since = self._since.strftime("%H:%M:%SZ")
        if self._reachable:
            return f"ZooKeeper connected since {since}"
        return (f"ZooKeeper unreachable since {since} (no quorum, or no server of the "
                "ensemble answers): controllers here do not act")

    def leading(self) -> list[Term]:
        with self._lock:
            return sorted(self._terms.values(), key=lambda t: t.kind)

    def fenced(self, kind: str, term: Term) -> None:
        log.warning("%s: fenced (term %s superseded): standing by", kind, term.epoch)
        if self._loop is not None:
            self._spawn(self._resign(kind, stand_again=True))

    def set_enabled(self, enabled: bool) -> None:
        if enabled == self._enabled:
            return
        self._enabled = enabled
        for kind in list(self._callbacks):
            if enabled:
                self._kick(kind)
            else:
                self._spawn(self._resign(kind))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """A task outside any term (a fenced sync's context must not fence the claim)."""
        if self._loop is None:
            coro.close()
            return
        task = self._loop.create_task(coro, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ZooKeeper -----------------------------------------------------------------------

    def _state(self, state: str) -> None:
        """Kazoo's connection listener (its thread): stop acting at the first doubt."""
        from kazoo.protocol.states import KazooState

        reachable = state == KazooState.CONNECTED
        if reachable != self._reachable:
            self._reachable, self._since = reachable, datetime.now(UTC)
        if state in (KazooState.SUSPENDED, KazooState.LOST):
            with self._lock:
                self._breaks += 1
                dropped = list(self._terms)
                self._terms.clear()
            for kind in dropped:
                log.warning("%s: standing by (ZooKeeper connection %s)", kind, state)
                self._notify(kind)
            if state == KazooState.LOST:
                self._nodes.clear()
        elif state == KazooState.CONNECTED:
            for kind in list(self._callbacks):
                self._kick_threadsafe(kind)

    def _notify(self, kind: str) -> None:
        if self._loop is None:
            return
        for callback in self._callbacks.get(kind, []):
            with contextlib.suppress(RuntimeError):  # the loop closed
                self._loop.call_soon_threadsafe(callback)

    def _kick_threadsafe(self, kind: str) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._kick, kind)

    def _kick(self, kind: str) -> None:
        """Look at ``kind``'s election again (in the loop; coalesced)."""
        if self._stopping or self._loop is None:
            return
        busy = self._busy.setdefault(kind, asyncio.Lock())
        if busy.locked():
            self._again.add(kind)
            return
        self._spawn(self._evaluate(kind, busy))

    async def _evaluate(self, kind: str, busy: asyncio.Lock) -> None:
        async with busy:
            while True:
                self._again.discard(kind)
                try:
                    await self._step(kind)
                except Exception as exc:
                    log.warning("%s: election step failed (%s); retrying", kind, exc)
                    self._drop(kind)
                    assert self._loop is not None
                    self._loop.call_later(1.0, self._kick, kind)
                if kind not in self._again:
                    return

    def _connected(self) -> bool:
        from kazoo.protocol.states import KazooState

        return bool(self._client.state == KazooState.CONNECTED)

    async def _step(self, kind: str) -> None:
        if not self._enabled or self._stopping or not self._connected():
            self._drop(kind)
            return
        session = self._client.client_id[0] if self._client.client_id else 0
        node = self._nodes.get(kind)
        if node is None or node[1] != session:
            self._drop(kind)
            path = await asyncio.to_thread(
                self._client.create, f"{ROOT}/{kind}/n_", self._payload(),
                ephemeral=True, sequence=True, makepath=True)
            node = (path, session)
            self._nodes[kind] = node
        mine = node[0].rsplit("/", 1)[1]
        children = sorted(await asyncio.to_thread(self._client.get_children, f"{ROOT}/{kind}"),
                          key=_sequence)
        if mine not in children:  # the session ended under us: stand again
            self._nodes.pop(kind, None)
            self._drop(kind)
            self._kick(kind)
            return
        index = children.index(mine)
        if index > 0:
            self._drop(kind)
            before = f"{ROOT}/{kind}/{children[index - 1]}"
            seen = await asyncio.to_thread(self._client.exists, before,
                                           watch=lambda _event: self._kick_threadsafe(kind))
            if seen is None:
                self._kick(kind)
            return
        epoch = _sequence(mine) + 1  # 1, 2, ...: 0 is no term
        held = self._terms.get(kind)
        if held is not None and held.epoch == epoch:
            return
        # the ensemble has a quorum: a write commits only through one. A server cut off
        # from the others serves reads and takes reconnecting sessions until it notices
        # (up to its sync limit): a leader suspended by a lost server and reconnected to
        # such a one would otherwise act again for that while (the write waits, then
        # fails with the connection when the server gives up). The proof holds only while
        # the connection does: a break between the write and the term (the claim can take
        # a while) may have been a reconnection to such a server, so it is proved again
        with self._lock:
            breaks = self._breaks
        await asyncio.to_thread(self._client.set, node[0], self._payload())
        if not await self._claim(kind, epoch):
            log.error("%s: the database records a newer leader than epoch %d (was "
                      "ZooKeeper's data reset?): standing by", kind, epoch)
            self._drop(kind)
            return
        with self._lock:
            if self._nodes.get(kind) != node or self._breaks != breaks \
                    or not self._connected():
                # broken while claiming: the next step (kicked by the listener) proves the
                # quorum again before it leads
                return
            self._terms[kind] = Term(kind, epoch, self.host)
        log.info("%s: leading (epoch %d)", kind, epoch)
        self._notify(kind)

    def _payload(self) -> bytes:
        return f"{self.host}:{os.getpid()}".encode()

    def _drop(self, kind: str) -> None:
        with self._lock:
            term = self._terms.pop(kind, None)
        if term is not None:
            log.info("%s: standing by (epoch %s ended)", kind, term.epoch)
            self._notify(kind)

    async def _resign(self, kind: str, *, stand_again: bool = False) -> None:
        term = self._terms.get(kind)
        self._drop(kind)
        node = self._nodes.pop(kind, None)
        if node is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._client.delete, node[0])
        if term is not None and term.epoch is not None:
            with contextlib.suppress(Exception):
                await self._release(kind, term.epoch)
        if stand_again:
            self._kick(kind)


def _sequence(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


_current: Election = LocalElection()


def install(election: Election) -> None:
    """Make ``election`` the process's election (``Cloud.start``)."""
    global _current
    _current = election


def current() -> Election:
    return _current


def describe(election: Election) -> dict[str, Any]:
    return {"leading": [{"kind": t.kind, "epoch": t.epoch} for t in election.leading()]}
