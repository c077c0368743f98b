"""Read operations' sessions are bound to the read engine paired with the cloud's
(``cloudctl/db/readpool.py``); everything else keeps the engine it was given."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from cloudctl.db import readpool
from cloudctl.db.engine import session_factory


@pytest.mark.parametrize("operation,read", [
    ("DescribeVolumes", True), ("GetObject", True), ("ListUsers", True),
    ("HeadBucket", True), ("CreateVolume", False), ("PutObject", False),
    ("DeleteTags", False), ("RunInstances", False)])
def test_reads_are_known_by_their_names(operation: str, read: bool) -> None:
    assert readpool.is_read(operation) is read


def test_a_read_operations_sessions_use_the_paired_engine() -> None:
    async def main() -> None:
        engine = create_async_engine("sqlite+aiosqlite://")
        reads = create_async_engine("sqlite+aiosqlite://")
        other = create_async_engine("sqlite+aiosqlite://")
        sessions = session_factory(engine)
        readpool.pair(engine, reads)
        assert readpool.partner(engine) is reads
        assert sessions().bind is engine  # no operation marked
        token = readpool.reading("DescribeVolumes")
        try:
            assert sessions().bind is reads
            assert session_factory(other)().bind is other  # no partner: unchanged

            async def spawned() -> object:  # a task started meanwhile inherits the mark
                return sessions().bind
            assert await asyncio.create_task(spawned()) is reads
        finally:
            readpool.done(token)
        assert sessions().bind is engine  # the mark ends with the operation
        write = readpool.reading("CreateVolume")
        assert write is None and sessions().bind is engine
        # a credential's load reads, whatever the operation
        assert readpool.read_session(sessions).bind is reads
        assert sessions().bind is engine
        readpool.done(write)
        for each in (engine, reads, other):
            await each.dispose()

    asyncio.run(main())


def test_the_read_engine_shares_the_write_turns_and_the_near_waits() -> None:
    from cloudctl.db import pgnearwait, pgwriters
    from cloudctl.db.engine import create_engine

    async def main() -> None:
        url = "postgresql+psycopg://cloud@127.0.0.1:1/cloud"  # never connected
        engine = create_engine(url, host_id="h1")
        reads = create_engine(url, host_id="h1", reads_of=engine)
        assert readpool.partner(engine) is reads
        assert pgwriters.writers_for(reads) is pgwriters.writers_for(engine) is not None
        assert pgnearwait.for_engine(reads) is pgnearwait.for_engine(engine) is not None
        assert reads.pool.size() == readpool.READ_POOL_SIZE  # type: ignore[attr-defined]
        assert engine.pool.size() > reads.pool.size()  # type: ignore[attr-defined]
        await reads.dispose()
        await engine.dispose()

    asyncio.run(main())
