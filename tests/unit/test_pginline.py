"""``cloudctl/db/pginline.py`` on a real PostgreSQL server.

A hot read (``PgReads.rows``, an S3 current version, the credential epoch) on a near
database completes without suspending its coroutine: no loop pass. A read that cannot
finish at once does not hold the loop: a locked table is given up after the server's
statement timeout, a stopped backend after the client's deadline, a terminated one
before use; each read still answers, awaited. A far database (here: every round trip
over a threshold of 0 ms) is read awaited; the property's ``off`` forces that too. A
server is on this host by its address (loopback, a unix socket), not by its name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import psycopg
import pytest

from cloudctl.db import pginline, pgnearwait
from cloudctl.db.pgreads import PgReads
from cloudctl.services.iam.credentials import _EPOCH_PG, _EpochReads
from cloudctl.services.s3.fastsql import BUCKET_COLUMNS, OBJECT_COLUMNS
from cloudctl.services.s3.pgsql import PgObjects
from tests.unit.loop_probes import at_once

_SETUP = (
    "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v int)",
    "INSERT INTO t VALUES (1, 10) ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS iam_credential_epoch (id int PRIMARY KEY, generation int)",
    "INSERT INTO iam_credential_epoch VALUES (1, 7) ON CONFLICT DO NOTHING",
    # the S3 reads' tables, their columns untyped: the reads here find no row
    "CREATE TABLE IF NOT EXISTS s3_buckets ({})".format(
        ", ".join(f"{c} text" for c in BUCKET_COLUMNS)),
    "CREATE TABLE IF NOT EXISTS s3_objects ({}, latest boolean)".format(", ".join(
        f'"{c}" text' for c in OBJECT_COLUMNS if c != "latest")),
)


@pytest.fixture(scope="module")
def conninfo(pg_server: Any) -> str:
    url = pg_server.create_database("pginline_unit").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _SETUP:
            conn.execute(statement)
    return str(url)


async def _near(reads: PgReads) -> None:
    """Until this loop's inline connection is open (it connects on a thread); inline
    whatever the round trips of a busy test host (``on``) unless a test chose."""
    if reads.inline.mode == "auto":
        reads.inline.mode = "on"
    await reads.rows("SELECT 1")
    deadline = time.monotonic() + 10
    while not reads.inline_near():
        assert time.monotonic() < deadline, "the inline connection never opened"
        await asyncio.sleep(0.01)


def test_hot_reads_take_no_loop_pass(conninfo: str) -> None:
    reads = PgReads(conninfo)

    async def run() -> None:
        await _near(reads)
        assert at_once(reads.rows("SELECT v FROM t WHERE id = %s", (1,))) == [(10,)]
        assert at_once(PgObjects(reads).bucket("none")) is None
        assert at_once(PgObjects(reads).current("none", "k")) is None
        epochs = _EpochReads(sessions=None, pg=lambda: reads)  # type: ignore[arg-type]
        assert at_once(epochs.read()) == 7
        await asyncio.sleep(0)  # the next loop turn reads the epoch again
        with psycopg.connect(conninfo, autocommit=True) as writer:
            writer.execute("UPDATE iam_credential_epoch SET generation = 8 WHERE id = 1")
        # the turn's read is shared in that turn; the next turn sees the revocation
        assert at_once(epochs.read()) == 8
        with psycopg.connect(conninfo, autocommit=True) as writer:
            writer.execute("UPDATE iam_credential_epoch SET generation = 7 WHERE id = 1")
        assert at_once(epochs.read()) == 8  # same turn: the read already made
        await asyncio.sleep(0)
        assert at_once(epochs.read()) == 7
        assert reads.inline.here().inline_count >= 4

    asyncio.run(run())
    reads.close()
    reads.close_inline()


def test_a_locked_table_is_given_up_after_the_statement_timeout(conninfo: str) -> None:
    reads = PgReads(conninfo)

    async def run() -> None:
        await _near(reads)
        with psycopg.connect(conninfo) as locker:
            locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            started = time.perf_counter()
            assert reads.inline_rows("SELECT v FROM t WHERE id = 1") is None
            held = time.perf_counter() - started
            assert held < pginline.DEADLINE + 0.05, held
            assert reads.inline.here().fallbacks == 1
            answer = asyncio.ensure_future(reads.rows("SELECT v FROM t WHERE id = 1"))
            await asyncio.sleep(0.2)
            assert not answer.done()  # awaited: it waits for the lock, the loop runs
            locker.rollback()
            assert await answer == [(10,)]
        # the connection comes back after the back-off
        await asyncio.sleep(pginline.BACKOFF)
        await _near(reads)
        assert at_once(reads.rows("SELECT v FROM t WHERE id = 1")) == [(10,)]

    asyncio.run(run())
    reads.close()
    reads.close_inline()


def test_a_stopped_backend_is_given_up_after_the_deadline(conninfo: str) -> None:
    reads = PgReads(conninfo)

    async def run() -> None:
        await _near(reads)
        here = reads.inline.here()
        backend = here._conn.info.backend_pid  # type: ignore[union-attr]
        os.kill(backend, signal.SIGSTOP)  # the server's statement timeout cannot fire
        try:
            started = time.perf_counter()
            assert reads.inline_rows("SELECT v FROM t WHERE id = 1") is None
            held = time.perf_counter() - started
        finally:
            os.kill(backend, signal.SIGCONT)
        assert pginline.DEADLINE <= held < pginline.DEADLINE + 0.05, held
        assert await reads.rows("SELECT v FROM t WHERE id = 1") == [(10,)]

    asyncio.run(run())
    reads.close()
    reads.close_inline()


def test_a_terminated_backend_is_read_awaited_then_reconnected(conninfo: str) -> None:
    reads = PgReads(conninfo)

    async def run() -> None:
        await _near(reads)
        backend = reads.inline.here()._conn.info.backend_pid  # type: ignore[union-attr]
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        time.sleep(0.1)  # the socket is closed
        assert reads.inline_rows("SELECT v FROM t WHERE id = 1") is None
        assert await reads.rows("SELECT v FROM t WHERE id = 1") == [(10,)]
        await _near(reads)  # a new connection, opened on a thread
        assert at_once(reads.rows("SELECT v FROM t WHERE id = 1")) == [(10,)]

    asyncio.run(run())
    reads.close()
    reads.close_inline()


def test_a_far_database_and_off_are_read_awaited(conninfo: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    reads = PgReads(conninfo)

    async def run() -> None:
        await _near(reads)
        reads.inline.mode = "auto"  # judged by its round trips, measured on the loop
        assert reads.inline_rows("SELECT v FROM t WHERE id = 1") == [(10,)]
        monkeypatch.setattr(pginline, "NEAR_MS", 0.0)  # every round trip is too slow
        monkeypatch.setattr(pginline, "LOCAL_NEAR_MS", 0.0)
        assert not reads.inline_near()
        here = reads.inline.here()
        here._next_probe = time.monotonic() + 60
        count = here.inline_count
        assert await reads.rows("SELECT v FROM t WHERE id = 1") == [(10,)]
        assert reads.inline_rows("SELECT v FROM t WHERE id = 1") is None
        assert here.inline_count == count
        here._next_probe = 0.0  # a probe is due: one inline read measures again
        assert reads.inline_rows("SELECT v FROM t WHERE id = 1") == [(10,)]
        assert reads.inline_rows("SELECT v FROM t WHERE id = 1") is None
        monkeypatch.setattr(pginline, "LOCAL_NEAR_MS", 1000.0)
        assert reads.inline_near()
        reads.inline.mode = "off"
        assert not reads.inline_near()
        assert reads.inline_rows(_EPOCH_PG) is None

    asyncio.run(run())
    reads.close()
    reads.close_inline()


def test_a_stale_prepared_plan_is_read_awaited(conninfo: str) -> None:
    """A migration changes a column's type: the inline statement's prepared plan fails
    ("cached plan must not change result type"), the read runs awaited."""
    reads = PgReads(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS stale (id int PRIMARY KEY, v int)")
        admin.execute("INSERT INTO stale VALUES (1, 10) ON CONFLICT DO NOTHING")

    async def run() -> None:
        await _near(reads)
        assert at_once(reads.rows("SELECT v FROM stale WHERE id = 1")) == [(10,)]
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute("ALTER TABLE stale ALTER COLUMN v TYPE text")
        assert await reads.rows("SELECT v FROM stale WHERE id = 1") == [("10",)]
        assert reads.inline.here().fallbacks == 1

    asyncio.run(run())
    reads.close()
    reads.close_inline()


def test_a_server_on_this_host_by_its_address() -> None:
    near = pgnearwait.on_this_host
    assert near("postgresql://u:p@127.0.0.1:5432/x") and near("postgresql://u@localhost/x")
    assert near("postgresql:///x?host=/run/postgresql") and near("host=::1 dbname=x")
    assert not near("postgresql://u@db.example:5432/x")
    assert not near("host=10.0.0.5 dbname=x")
    assert not near("host=127.0.0.1,10.0.0.5 dbname=x")  # a list: all must be local
