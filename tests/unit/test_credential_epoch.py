"""Credential epoch reads shared by concurrent lookups, never older than the lookup.

Every test runs on both event loops the API processes may run (``cloudctl up
--event-loop``): the turn rule depends on the loop's order of callbacks and polls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from cloudctl.server import eventloop
from cloudctl.services.iam.credentials import _EpochReads

Run = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


@pytest.fixture(params=eventloop.KINDS)
def run(request: pytest.FixtureRequest) -> Run:
    """Runs a coroutine function on a new loop of the parametrised kind, checked to be
    that kind (uvloop must be installed: it is a dependency)."""
    kind = request.param

    def on_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        async def checked() -> Any:
            assert eventloop.kind_of(asyncio.get_running_loop()) == kind
            return await main()

        return eventloop.run(checked, kind)

    return on_loop


class _Database:
    """A stand-in session factory: each read sees ``epoch`` as of the read's start and
    takes until ``release`` is set."""

    def __init__(self) -> None:
        self.epoch = 1
        self.reads = 0
        self.release = asyncio.Event()
        self.release.set()

    def __call__(self) -> _Database:
        return self

    async def __aenter__(self) -> _Database:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        return None

    async def execute(self, _statement: Any) -> Any:
        self.reads += 1
        seen = self.epoch
        await self.release.wait()

        class _Result:
            def scalar_one_or_none(self) -> int:
                return seen

        return _Result()


def test_concurrent_lookups_share_one_read(run: Run) -> None:
    async def main() -> None:
        database = _Database()
        reads = _EpochReads(database)  # type: ignore[arg-type]
        values = await asyncio.gather(*(reads.read() for _ in range(50)))
        assert values == [1] * 50
        assert database.reads == 1

    run(main)


def test_a_lookup_never_gets_a_read_that_started_before_it(run: Run) -> None:
    async def main() -> None:
        database = _Database()
        database.release.clear()
        reads = _EpochReads(database)  # type: ignore[arg-type]
        early = asyncio.ensure_future(reads.read())
        await asyncio.sleep(0.01)
        assert database.reads == 1  # in flight, saw epoch 1
        database.epoch = 2  # a revocation commits now
        late = [asyncio.ensure_future(reads.read()) for _ in range(5)]
        await asyncio.sleep(0.01)
        database.release.set()
        assert await early == 1
        assert await asyncio.gather(*late) == [2] * 5
        assert database.reads == 2

    run(main)


def test_a_failed_read_fails_its_waiters_and_the_next_one_reads_again(run: Run) -> None:
    async def main() -> None:
        database = _Database()
        reads = _EpochReads(database)  # type: ignore[arg-type]
        failing = database.execute

        async def broken(_statement: Any) -> Any:
            raise ConnectionError("database gone")

        database.execute = broken  # type: ignore[method-assign]
        results = await asyncio.gather(reads.read(), reads.read(), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        database.execute = failing  # type: ignore[method-assign]
        assert await reads.read() == 1

    run(main)


def test_sqlite_reads_at_once_and_waits_out_a_lock(tmp_path: Any, run: Run) -> None:
    import sqlite3

    from cloudctl.services.iam.fastsql import FastIam

    path = str(tmp_path / "cloud.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE iam_credential_epoch (id INTEGER PRIMARY KEY, generation INT)")
    writer.execute("INSERT INTO iam_credential_epoch VALUES (1, 7)")
    fast = FastIam(path, None)

    async def main() -> None:
        reads = _EpochReads(None, lambda: fast)  # type: ignore[arg-type]
        assert await reads.read() == 7
        writer.execute("UPDATE iam_credential_epoch SET generation = 8")
        await asyncio.sleep(0)  # the next loop turn: where a request sent after it is served
        assert await reads.read() == 8  # a revocation is seen by the next lookup
        writer.execute("BEGIN EXCLUSIVE")  # rollback journal: readers are locked out
        writer.execute("UPDATE iam_credential_epoch SET generation = 9")
        assert fast.epoch_now() is None
        waiting = asyncio.ensure_future(reads.read())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        writer.execute("COMMIT")
        assert await asyncio.wait_for(waiting, 10) == 9

    run(main)
    writer.close()


def test_fast_user_insert_checks_its_account_in_the_same_statement(tmp_path: Any, run: Run) -> None:
    """CreateUser's insert on SQLite adds the user only if its account exists (False
    otherwise, nothing written); a name taken in the account is NameTaken."""
    from sqlalchemy import create_engine

    from cloudctl.db.base import Base
    from cloudctl.services.iam.fastsql import FastIam, NameTaken
    from cloudctl.services.iam.models import Account, User

    path = str(tmp_path / "cloud.db")
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[Account.__table__, User.__table__])  # type: ignore[list-item]
    engine.dispose()
    fast = FastIam(path, None)
    fast._sql.conn(0).execute(
        "INSERT INTO iam_accounts (account_id, name, canonical_id, created_at) "
        "VALUES ('111122223333', 'a', 'c', '2026-12-05 00:00:00.000000')")

    def row(account: str, name: str, user_id: str = "") -> tuple[Any, ...]:
        return (user_id or f"AIDA{name.upper()}", account, name, name, "/",
                "2026-12-05 00:00:00.000000", "[]")

    async def main() -> None:
        assert await fast.insert_user(row("111122223333", "alice")) is True
        assert await fast.insert_user(row("999988887777", "bob")) is False
        try:
            await fast.insert_user(row("111122223333", "alice", "AIDAOTHER"))
        except NameTaken:
            pass
        else:
            raise AssertionError("a taken name was inserted")

    run(main)
    names = fast._sql.conn(0).execute("SELECT account_id, name FROM iam_users").fetchall()
    assert names == [("111122223333", "alice")]
    fast.close()


def test_a_waiting_lookup_resumes_in_the_pass_after_its_read_ends(run: Run) -> None:
    """Every loop pass a GET waits for costs it the other requests' steps (~10-40 ms
    under 64 clients on PostgreSQL): the read's result wakes the lookup directly, not
    through a shared future and a shield (one pass more)."""
    async def main() -> int:
        loop = asyncio.get_running_loop()
        database = _Database()
        database.release.clear()
        reads = _EpochReads(database)  # type: ignore[arg-type]
        lookup = asyncio.ensure_future(reads.read())
        await asyncio.sleep(0.01)  # the read is in flight
        passes = 0

        def tick() -> None:
            nonlocal passes
            passes += 1
            if not lookup.done():
                loop.call_soon(tick)

        database.release.set()  # the database answers
        loop.call_soon(tick)
        assert await lookup == 1
        return passes

    # the reader resumes, then the lookup (its task ends in that pass)
    assert run(main) == 2


def test_sqlite_lookups_of_one_loop_turn_share_its_read(tmp_path: Any, run: Run) -> None:
    """On SQLite the lookups of one loop turn share one epoch read (every request served
    in a turn reached the socket by its poll, before the read); the next turn reads
    again, before anything its poll brings is served."""
    import sqlite3

    from cloudctl.services.iam.fastsql import FastIam

    path = str(tmp_path / "cloud.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE iam_credential_epoch (id INTEGER PRIMARY KEY, generation INT)")
    writer.execute("INSERT INTO iam_credential_epoch VALUES (1, 7)")
    fast = FastIam(path, None)
    selects = []
    read_now = fast.epoch_now

    def counted() -> int | None:
        selects.append(1)
        return read_now()

    fast.epoch_now = counted  # type: ignore[method-assign]

    async def main() -> None:
        reads = _EpochReads(None, lambda: fast)  # type: ignore[arg-type]
        assert [await reads.read() for _ in range(5)] == [7] * 5
        assert len(selects) == 1
        writer.execute("UPDATE iam_credential_epoch SET generation = 8")
        assert await reads.read() == 7  # the turn's read
        await asyncio.sleep(0)
        assert await asyncio.gather(*(reads.read() for _ in range(5))) == [8] * 5
        assert len(selects) == 2

    run(main)
    writer.close()
    fast.close()


def test_a_turns_read_is_not_used_on_another_loop(tmp_path: Any, run: Run) -> None:
    """The read of one loop's turn serves only that loop (a thread may run its own)."""
    import sqlite3
    import threading

    from cloudctl.services.iam.fastsql import FastIam

    path = str(tmp_path / "cloud.db")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE iam_credential_epoch (id INTEGER PRIMARY KEY, generation INT)")
    writer.execute("INSERT INTO iam_credential_epoch VALUES (1, 7)")
    fast = FastIam(path, None)
    reads = _EpochReads(None, lambda: fast)  # type: ignore[arg-type]
    seen: list[int] = []

    async def other_loop() -> None:
        seen.append(await reads.read())

    async def main() -> None:
        assert await reads.read() == 7  # cached for this loop's turn
        writer.execute("UPDATE iam_credential_epoch SET generation = 8")
        thread = threading.Thread(target=lambda: run(other_loop))
        thread.start()
        thread.join()  # still this loop's turn: nothing ran here meanwhile

    run(main)
    assert seen == [8]
    writer.close()
    fast.close()


def test_a_request_sent_after_a_turns_read_gets_a_read_of_its_own(tmp_path: Any, run: Run) -> None:
    """The turn rule at the socket: a revocation commits after this turn's epoch read,
    then a request is sent in the same turn; the server serves that request (its bytes
    reach the loop through its poll) with a read made after the revocation, never with
    the turn's. Holds for any loop whose ready callbacks run in order and whose polls
    come between turns (asyncio's; uvloop's: libuv runs the ready queue in its idle
    phase, a snapshot at a time, before the poll)."""
    import sqlite3

    from cloudctl.services.iam.fastsql import FastIam

    path = str(tmp_path / "cloud.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE iam_credential_epoch (id INTEGER PRIMARY KEY, generation INT)")
    writer.execute("INSERT INTO iam_credential_epoch VALUES (1, 7)")
    fast = FastIam(path, None)
    reads = _EpochReads(None, lambda: fast)  # type: ignore[arg-type]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        served: asyncio.Queue[int] = asyncio.Queue()

        async def serve() -> None:
            served.put_nowait(await reads.read())

        class Server(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                loop.create_task(serve())

        server = await loop.create_server(Server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, client = await asyncio.open_connection("127.0.0.1", port)
        try:
            for generation in range(8, 20):
                assert await reads.read() == generation - 1  # this turn's read
                writer.execute("UPDATE iam_credential_epoch SET generation = ?", (generation,))
                client.write(b"x")  # sent after the revocation committed, in the same turn
                assert await asyncio.wait_for(served.get(), 5) == generation
        finally:
            # closed on a failure too: uvloop's close waits for open servers' handles
            client.close()
            server.close()
            await server.wait_closed()

    run(main)
    writer.close()
    fast.close()
