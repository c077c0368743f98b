"""A read every waiter shares, sent after each began, answered from the socket's callback.

The credential epoch is read before every request is served, and each lookup must see a
read that *started* after it began (a revocation answered before the request was sent
has committed by then). Concurrent lookups share one: a read in flight serves the
lookups that were waiting when it was sent, and the next read, sent the moment it
answers, serves those that came meanwhile.

Over psycopg each read took two event-loop passes after its answer reached the socket
(the reader's callback sets psycopg's future; the reading task resumes in the next pass
and sets the lookups' futures; they resume in the pass after), and the next read went
out only when that task ran again. Here the statement is sent on a connection of its
own with libpq's asynchronous calls, and the socket's reader callback reads the answer,
sets the waiters' futures and sends the next read, all in the pass the answer arrived:
the waiters resume in the next pass. A waiting lookup cost ~3.5 passes of a busy loop
(5-11 ms each under the 64-client load), one of them this hop (bench/results/load.md).

When the connection is missing (being opened), dead or answers an error, the batch is
read through ``PgReads.one`` instead (a read sent after every waiter of the batch
began, as required); the connection is then opened anew. It belongs to the event loop
that opened it and closes with its ``PgReads``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq

from cloudctl.db.engine import pg_idle_alive

if TYPE_CHECKING:
    from cloudctl.db.pgreads import PgReads

log = logging.getLogger(__name__)


class FreshRead:
    """The first column of the first row of ``statement`` (text, None: no row), read
    after each caller began; see the module docstring."""

    def __init__(self, reads: PgReads, statement: str) -> None:
        self.reads = reads
        self.statement = statement
        self._query = statement.encode()
        self.loop = asyncio.get_running_loop()
        self._waiting: list[asyncio.Future[str | None]] = []  # for the next read
        self._batch: list[asyncio.Future[str | None]] | None = None  # its read is out
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._opening: asyncio.Task[None] | None = None
        self._fd = -1  # the socket the reader callback watches (-1: none)
        self._closed = False

    async def value(self) -> str | None:
        """The value of a read sent after this call began (shared with other callers)."""
        waiter: asyncio.Future[str | None] = self.loop.create_future()
        self._waiting.append(waiter)
        if self._batch is None:
            self._send()
        return await waiter  # cancelled: its read skips it

    def close(self) -> None:
        """Close the connection; waiting callers get an error."""
        self._closed = True
        self._drop()
        for waiter in (self._batch or []) + self._waiting:
            if not waiter.done():
                waiter.set_exception(psycopg.OperationalError("the reads were closed"))
        self._batch, self._waiting = None, []
        if self._opening is not None:
            self._opening.cancel()

    def _send(self) -> None:
        """Send the read for every caller waiting now (None in flight)."""
        if not self._waiting or self._closed:
            return
        self._batch, self._waiting = self._waiting, []
        conn = self._conn
        if conn is not None and pg_idle_alive(conn):
            pgconn = conn.pgconn
            try:
                pgconn.send_query(self._query)
                sent = pgconn.flush() == 0
            except psycopg.Error:
                sent = False
            if sent:
                self._fd = pgconn.socket
                self.loop.add_reader(self._fd, self._readable)
                return
        self._drop()
        self.loop.create_task(self._read_otherwise())

    def _readable(self) -> None:
        """The socket has data: the whole answer read, the waiters set, the next read sent."""
        conn = self._conn
        assert conn is not None
        pgconn = conn.pgconn
        try:
            pgconn.consume_input()
            if pgconn.is_busy():
                return  # the rest of the answer comes later
            results = []
            while (result := pgconn.get_result()) is not None:
                results.append(result)
        except psycopg.Error:
            results = []
        self._unlisten()
        if len(results) != 1 or results[0].status != pq.ExecStatus.TUPLES_OK:
            self._drop()  # dead, or an error (a migration under way): read otherwise
            self.loop.create_task(self._read_otherwise())
            return
        found = results[0]
        raw = found.get_value(0, 0) if found.ntuples else None
        self._answer(None if raw is None else bytes(raw).decode())

    def _answer(self, value: str | None, error: BaseException | None = None) -> None:
        batch, self._batch = self._batch or [], None
        for waiter in batch:
            if not waiter.done():
                if error is None:
                    waiter.set_result(value)
                else:
                    waiter.set_exception(error)
        self._send()

    async def _read_otherwise(self) -> None:
        """The batch read through ``PgReads`` (no connection of its own, or it failed),
        and a connection opened for the next reads."""
        self._open_soon()
        try:
            row = await self.reads.one(self.statement)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._answer(None, exc)
            return
        raw = row[0] if row else None
        self._answer(None if raw is None else str(raw))

    def _open_soon(self) -> None:
        if self._conn is None and self._opening is None and not self._closed:
            self._opening = self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(self.reads.conninfo, autocommit=True)
        except Exception:
            log.warning("a connection for fresh reads could not be opened", exc_info=True)
            return
        finally:
            self._opening = None
        if self._closed:
            conn.pgconn.finish()
            return
        self._conn = conn

    def _unlisten(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0 and not self.loop.is_closed():
            self.loop.remove_reader(fd)

    def _drop(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._unlisten()
        self._conn = None
        if not conn.closed:
            conn.pgconn.finish()
