"""Fencing of controller writes against real PostgreSQL and ZooKeeper, in one process.

Two elections (hosts ``a`` and ``b``) stand for one controller kind. ``a`` leads and
writes; its session is expired behind its back (a paused leader whose session timed
out); ``b`` takes over with a larger epoch. A write under ``a``'s term is refused in
its own transaction, ``b``'s commits, and the reconcile base turns a refused sync into
standing by (not a failure). A separate SQLite case checks the same rule on the
embedded database's engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.core import election as elections
from cloudctl.core import fencing, terms
from cloudctl.core.fencing import TERM, Fenced, Term
from cloudctl.core.reconcile import Reconciler
from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory

KIND = "fence-test"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def _write(sessions: async_sessionmaker[AsyncSession], term: Term | None,
                 value: str) -> None:
    """One write transaction (the ORM's unit of work) under ``term``."""
    from cloudctl.services.empyrean.models import ServiceHost

    token = TERM.set(term)
    try:
        async with sessions() as session, session.begin():
            row = await session.get(ServiceHost, "x")
            if row is None:
                session.add(ServiceHost(host="x", endpoint=value, state="ENABLED",
                                        controllers=[], leading=[], heartbeat=NOW,
                                        started_at=NOW))
            else:
                row.endpoint = value
    finally:
        TERM.reset(token)


async def _value(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        return str((await session.execute(
            text("SELECT endpoint FROM service_hosts WHERE host = 'x'"))).scalar())


async def _until(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


class StaleView:
    """The election as a paused leader still sees it: it believes it holds ``term``."""

    def __init__(self, term: Term) -> None:
        self.term = term
        self.fenced_terms: list[Term] = []

    def campaign(self, kind: str, on_change: Callable[[], None]) -> None:
        del kind, on_change

    def leads(self, kind: str) -> Term | None:
        return self.term if not self.fenced_terms else None

    def fenced(self, kind: str, term: Term) -> None:
        self.fenced_terms.append(term)

    def set_enabled(self, enabled: bool) -> None:
        del enabled

    def leading(self) -> list[Term]:
        return [self.term]

    def candidacies(self) -> list[str]:
        return [KIND]

    async def stop(self) -> None:
        return None


class Writer(Reconciler):
    name = KIND

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.sessions = sessions

    async def list_keys(self) -> Iterable[str]:
        return ["x"]

    async def sync(self, key: str) -> None:
        await _write(self.sessions, TERM.get(), "from the paused leader")


async def _scenario(url: str, zookeeper: str) -> None:
    fencing.install()
    engine = create_engine(url)
    sessions = session_factory(engine)
    a = elections.ZooKeeperElection(zookeeper, "a", *terms.claimer(sessions, "a"),
                                    session_timeout=2.0)
    b = elections.ZooKeeperElection(zookeeper, "b", *terms.claimer(sessions, "b"),
                                    session_timeout=2.0)
    try:
        a.start()
        a.campaign(KIND, lambda: None)
        term_a = await _until(lambda: a.leads(KIND), 15)
        b.start()
        b.campaign(KIND, lambda: None)
        await asyncio.sleep(0.5)
        assert b.leads(KIND) is None  # the standby
        await _write(sessions, term_a, "first")
        assert await _value(sessions) == "first"

        # a's session ends behind its back (what a pause beyond the timeout does)
        from kazoo.client import KazooClient

        session_id, password = a.client_id
        ghost = KazooClient(hosts=zookeeper, client_id=(session_id, password))
        await asyncio.to_thread(ghost.start, 10)
        await asyncio.to_thread(ghost.stop)
        await asyncio.to_thread(ghost.close)
        term_b = await _until(lambda: b.leads(KIND), 15)
        assert term_b.epoch > term_a.epoch

        with pytest.raises(Fenced):
            await _write(sessions, term_a, "stale")
        assert await _value(sessions) == "first"  # rolled back in its own transaction
        await _write(sessions, term_b, "second")
        assert await _value(sessions) == "second"
        assert await terms.claimer(sessions, "a")[0](KIND, term_a.epoch) is False

        # the reconcile base: a refused sync makes the process stand by, not fail
        stale = StaleView(term_a)
        elections.install(stale)
        writer = Writer(sessions)
        await writer.process("x")
        assert stale.fenced_terms == [term_a]
        assert writer.failures("x") == 0 and not writer.waiting("x")
        assert await _value(sessions) == "second"
        await writer.process("x")  # standing by now: no sync at all
        assert await _value(sessions) == "second"
    finally:
        elections.install(elections.LocalElection())
        await a.stop()
        await b.stop()
        await engine.dispose()


def test_a_superseded_leader_cannot_commit(pg_server: Any, zookeeper: Any) -> None:
    url = pg_server.create_database("cloud_fencing")
    migrate.upgrade(url)
    asyncio.run(_scenario(url, zookeeper.connect))


async def _break_while_claiming(zookeeper: str) -> None:
    """The connection breaks (SUSPENDED, then CONNECTED again, as kazoo reports a
    reconnection) after the write that proves the quorum, while the claim runs."""
    from kazoo.protocol.states import KazooState

    gate = asyncio.Event()
    claims: list[int] = []

    async def claim(kind: str, epoch: int) -> bool:
        claims.append(epoch)
        await gate.wait()
        return True

    async def release(kind: str, epoch: int) -> None:
        del kind, epoch

    a = elections.ZooKeeperElection(zookeeper, "a", claim, release, session_timeout=4.0)
    try:
        a.start()
        a.campaign(KIND + "-break", lambda: None)
        await _until(lambda: claims, 15)
        # the server a reconnected to may be one cut off from its quorum: the earlier write
        # proves nothing about it
        await asyncio.to_thread(a._state, KazooState.SUSPENDED)
        await asyncio.to_thread(a._state, KazooState.CONNECTED)
        gate.set()
        term = await _until(lambda: a.leads(KIND + "-break"), 15)
        assert len(claims) == 2, claims  # the first claim's term was not taken: proved again
        assert term.epoch == claims[-1]
    finally:
        await a.stop()


def test_a_break_while_claiming_proves_the_quorum_again(zookeeper: Any) -> None:
    asyncio.run(_break_while_claiming(zookeeper.connect))


def test_fencing_on_sqlite_and_without_terms() -> None:
    async def scenario(url: str) -> None:
        fencing.install()
        engine = create_engine(url)
        sessions = session_factory(engine)
        claim, _release = terms.claimer(sessions, "a")
        try:
            assert await claim(KIND, 1)
            await _write(sessions, Term(KIND, 1), "one")
            assert await claim(KIND, 2) and not await claim(KIND, 1)
            with pytest.raises(Fenced):
                await _write(sessions, Term(KIND, 1), "stale")
            await _write(sessions, None, "api")  # API writes carry no term
            await _write(sessions, Term(KIND, None), "embedded")  # unfenced
            await _write(sessions, Term(KIND, 2), "two")
            assert await _value(sessions) == "two"
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'cloud.db'}"
        migrate.upgrade(url)
        asyncio.run(scenario(url))


async def _lock_released(url: str, idle_timeout: float) -> float | None:
    """A host holds a row lock in a transaction and goes silent (cut off: its session
    stays, idle in the transaction); seconds until another host's UPDATE of the row
    gets through, or None if it still waits after 6 s."""
    cut = create_engine(url, idle_transaction_timeout=idle_timeout)
    other = create_engine(url)
    try:
        async with other.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS lock_probe "
                                    "(k int PRIMARY KEY, v int)"))
            await conn.execute(text("INSERT INTO lock_probe VALUES (1, 0) "
                                    "ON CONFLICT (k) DO NOTHING"))
        held = await cut.connect()
        await held.begin()
        await held.execute(text("UPDATE lock_probe SET v = v + 1 WHERE k = 1"))
        started = time.monotonic()  # ... and nothing more from this host
        try:
            async with other.begin() as conn:
                await conn.execute(text("SET LOCAL lock_timeout = '6s'"))
                await conn.execute(text("UPDATE lock_probe SET v = v + 10 WHERE k = 1"))
            return time.monotonic() - started
        except Exception as exc:
            if "lock timeout" not in str(exc):
                raise
            return None
        finally:
            with contextlib.suppress(Exception):
                await held.close()
    finally:
        await cut.dispose()
        await other.dispose()


def test_a_cut_off_hosts_idle_transaction_releases_its_locks(pg_server: Any) -> None:
    """PostgreSQL ends a session left idle in a transaction past the engine's
    ``idle_transaction_timeout`` (a host partitioned mid-transaction): its row locks
    go, and the new leader's write gets through; without it the write waits."""
    url = pg_server.create_database("fence_idle_tx")
    released = asyncio.run(_lock_released(url, 1.0))
    assert released is not None and released < 4, released
    assert asyncio.run(_lock_released(url, 0.0)) is None


def _raw_session(host: str, port: int, database: str, application: str) -> socket.socket:
    """A started PostgreSQL protocol session of ``application`` (trust authentication)."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    params = b"".join(k + b"\0" + v.encode() + b"\0" for k, v in (
        (b"user", "postgres"), (b"database", database), (b"application_name", application)))
    body = struct.pack("!i", 196608) + params + b"\0"
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    seen = b""
    while b"Z\0\0\0\x05" not in seen:  # ReadyForQuery
        chunk = sock.recv(4096)
        assert chunk, seen
        seen += chunk
    return sock


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _stuck_writer(sock: socket.socket) -> None:
    """Ask for a large result and never read it: the server session blocks in
    ``ClientWrite`` (what a client cut off mid-answer leaves)."""
    sock.sendall(_message(b"Q", b"SELECT repeat('x', 1000) FROM generate_series(1, 200000)\0"))


def _cut_mid_exchange(sock: socket.socket, sql: str) -> None:
    """Parse, Bind and Execute ``sql`` with no Sync after them (a client cut off before
    the rest of its message arrived): the statement ran, its transaction stays open,
    the session "active" and waiting in ``ClientRead``, for ever."""
    sock.sendall(_message(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
                 + _message(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
                 + _message(b"E", b"\0" + struct.pack("!i", 0)))


async def _stuck_scenario(url: str) -> None:
    old = create_engine(url, host_id="a")
    new = create_engine(url, host_id="b")
    old_sessions, new_sessions = session_factory(old), session_factory(new)
    where = make_url(url)
    writer: socket.socket | None = None
    cut: socket.socket | None = None
    opened: list[Any] = []  # a's connections, closed whatever happens

    async def sessions_of_a() -> dict[str, str]:
        async with new.connect() as conn:
            rows = await conn.execute(text(
                "SELECT state, coalesce(wait_event, '') FROM pg_stat_activity "
                "WHERE application_name = 'cloudctl:a'"))
            return {f"{state}/{wait}": state for state, wait in rows}

    try:
        assert await terms.claimer(old_sessions, "a")[0](KIND, 1)
        healthy = await old.connect()  # a session of a's between transactions
        opened.append(healthy)
        await healthy.execute(text("SELECT 1"))
        await healthy.commit()
        # a is cut off with a transaction idle, ... (a plain SELECT would not open it:
        # the engine sends BEGIN with a session's first statement that needs one)
        held = await old.connect()
        opened.append(held)
        await held.begin()
        await held.execute(text("SELECT txid_current()"))
        address = (str(where.host), int(where.port or 0), str(where.database), "cloudctl:a")
        # ... its fence check's exchange cut before the Sync (the term row stays locked) ...
        writer = await asyncio.to_thread(_raw_session, *address)
        cut = await asyncio.to_thread(_raw_session, *address)
        _cut_mid_exchange(cut, f"UPDATE leader_terms SET epoch = epoch WHERE kind = '{KIND}'")
        # ... and an answer it no longer reads
        _stuck_writer(writer)
        stuck = {"idle in transaction/ClientRead", "active/ClientRead", "active/ClientWrite"}
        for _ in range(100):
            if stuck <= set(await sessions_of_a()):
                break
            await asyncio.sleep(0.05)
        assert stuck <= set(await sessions_of_a())
        await asyncio.sleep(terms.STUCK_SECONDS + 0.3)
        # b takes over: its claim ends all three (without that it waits on the row lock)
        assert await asyncio.wait_for(terms.claimer(new_sessions, "b")[0](KIND, 2), 10)
        for _ in range(60):
            left = await sessions_of_a()
            if not stuck & set(left):
                break
            await asyncio.sleep(0.05)
        assert set(left) == {"idle/ClientRead"}, left  # a's idle session stays
        with pytest.raises(Exception, match="terminat|closed|connection"):
            await held.execute(text("SELECT 1"))
        await healthy.execute(text("SELECT 1"))
        await healthy.close()
    finally:
        for raw in (writer, cut):
            if raw is not None:
                raw.close()
        for conn in opened:
            with contextlib.suppress(Exception):  # the held one was ended by b's claim
                await conn.close()
        await old.dispose()
        await new.dispose()


def test_a_new_leader_ends_the_stuck_sessions_of_a_cut_off_leader(pg_server: Any) -> None:
    """A cut-off leader's session idle in its transaction (no idle timeout here) holds
    the term row, another blocks writing an answer nobody reads; the next leader's claim
    ends both and gets through, and leaves the host's healthy idle session alone."""
    url = pg_server.create_database("fence_stuck")
    migrate.upgrade(url)
    asyncio.run(_stuck_scenario(url))


FENCE_CHECK_1 = f"UPDATE leader_terms SET epoch = epoch WHERE kind = '{KIND}' AND epoch = 1"


def _queued_fence_check(sock: socket.socket) -> None:
    """Open a transaction, then run a's fence check (epoch 1), which queues behind the
    row's holder; the answer is never read (the client is gone)."""
    sock.sendall(_message(b"Q", b"BEGIN\0"))
    seen = b""
    while b"Z\0\0\0\x05T" not in seen:  # ReadyForQuery, in a transaction
        chunk = sock.recv(4096)
        assert chunk, seen
        seen += chunk
    sock.sendall(_message(b"Q", FENCE_CHECK_1.encode() + b"\0"))


async def _queued_scenario(url: str) -> None:
    old = create_engine(url, host_id="a")
    new = create_engine(url, host_id="b")
    old_sessions, new_sessions = session_factory(old), session_factory(new)
    where = make_url(url)
    raws: list[socket.socket] = []

    async def states_of_a() -> dict[str, int]:
        async with new.connect() as conn:
            rows = await conn.execute(text(
                "SELECT state || '/' || coalesce(wait_event_type, ''), pid "
                "FROM pg_stat_activity WHERE application_name = 'cloudctl:a' "
                "AND state <> 'idle'"))
            return {state: pid for state, pid in rows}  # a's pooled idle session left out

    async def until(states: set[str]) -> dict[str, int]:
        for _ in range(100):
            found = await states_of_a()
            if set(found) == states:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{await states_of_a()} never became {states}")

    try:
        assert await terms.claimer(old_sessions, "a")[0](KIND, 1)
        address = (str(where.host), int(where.port or 0), str(where.database), "cloudctl:a")
        cut = await asyncio.to_thread(_raw_session, *address)
        queued = await asyncio.to_thread(_raw_session, *address)
        raws += [cut, queued]
        _cut_mid_exchange(cut, FENCE_CHECK_1)  # holds the term row
        await until({"active/Client"})
        await asyncio.to_thread(_queued_fence_check, queued)  # waits for it
        found = await until({"active/Client", "active/Lock"})
        # the holder is ended (the idle timeout, or an earlier claim's pass): the queued
        # check takes the row and waits, idle in its transaction, for a gone client,
        # its state fresh; the next claim comes at once
        async with new.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                               {"pid": found["active/Client"]})
        await until({"idle in transaction/Client"})
        started = time.monotonic()
        # without waiting on the row a bounded time and ending the stuck sessions again,
        # this claim waits for ever (no idle timeout here)
        assert await asyncio.wait_for(terms.claimer(new_sessions, "b")[0](KIND, 2), 15)
        assert time.monotonic() - started < 3 * terms.STUCK_SECONDS + 2
        await until(set())
        async with new_sessions() as session, session.begin():
            await session.execute(text("SET LOCAL lock_timeout = 1000"))
            checked: Any = await session.execute(text(
                "UPDATE leader_terms SET epoch = epoch WHERE kind = :kind AND epoch = 2"),
                {"kind": KIND})
            assert checked.rowcount == 1  # b's own fence check gets the row at once
            row = (await session.execute(text(
                "SELECT epoch, host FROM leader_terms WHERE kind = :kind"), {"kind": KIND})).one()
        assert tuple(row) == (2, "b")
    finally:
        for raw in raws:
            raw.close()
        await old.dispose()
        await new.dispose()


def test_a_new_leader_ends_a_cut_off_session_queued_behind_the_one_it_ended(
        pg_server: Any) -> None:
    """A cut-off leader's fence check queued on the term row behind another stuck one
    takes the row when that one is ended, and then waits for its gone client with a
    fresh state: the next claim waits on the row a bounded time, ends it too once it is
    stuck and gets through, and the new leader's own fence check gets the row."""
    url = pg_server.create_database("fence_queued")
    migrate.upgrade(url)
    asyncio.run(_queued_scenario(url))
