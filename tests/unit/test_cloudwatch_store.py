"""The embedded metric store against a real database: buckets merge on ingest
(counts and sums add, extremes kept, raw values only while every part has them) and the
retention sweep removes each resolution's buckets after AWS's retention (1 s: 3 hours,
1 min: 15 days, 5 min: 63 days, 1 h: 455 days) and nothing younger; compaction into
packed blocks changes no answer (buckets, statistics, raw values, at the written
resolution and at the 5-minute and 1-hour ones it rolls up), also with buckets
arriving for a slot already compacted. Compaction and the sweep of blocks are
database-specific SQL (``DELETE ... RETURNING``, ``FOR UPDATE``, blobs): those tests
run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cloudctl.db.base import Base
from cloudctl.services.cloudwatch.models import CwBlock, CwFresh, CwIngest, CwPoint
from cloudctl.services.cloudwatch.series import RETENTION, Bucket
from cloudctl.services.cloudwatch.store import EmbeddedStore

NOW = 2_000_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on SQLite or on the suite's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cw.db'}"
    server = request.getfixturevalue("pg_server")
    return str(server.create_database(f"cw_store_{uuid.uuid4().hex[:8]}"))


def _store(where: Path | str) -> tuple[EmbeddedStore, Any]:
    url = where if isinstance(where, str) else f"sqlite+aiosqlite:///{where / 'cw.db'}"
    engine = create_async_engine(url)
    return EmbeddedStore(SimpleNamespace(sessions=async_sessionmaker(engine))), engine  # type: ignore[arg-type]


async def _setup(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[CwPoint.__table__, CwFresh.__table__, CwIngest.__table__, CwBlock.__table__])


def test_buckets_merge_on_ingest(tmp_path: Path) -> None:
    store, engine = _store(tmp_path)

    async def run() -> list[Bucket]:
        await _setup(engine)
        await store.write([Bucket("k", 60, 600, "None", 2, 10, 4, 6, {4.0: 1, 6.0: 1})])
        await store.write([Bucket("k", 60, 600, "None", 1, 1, 1, 1, {1.0: 1})])
        await store.write([Bucket("k", 60, 660, "None", 1, 1, 1, 1, {1.0: 1})])
        await store.write([Bucket("k", 60, 660, "None", 4, 8, 0, 4, {}, raw=False)])
        got = await store.read(["k"], 60, 0, 1000)
        await engine.dispose()
        return got

    first, second = asyncio.run(run())
    assert (first.count, first.sum, first.minimum, first.maximum) == (3, 11, 1, 6)
    assert first.values == {4.0: 1, 6.0: 1, 1.0: 1} and first.raw
    assert (second.count, second.sum, second.minimum, second.maximum) == (5, 9, 0, 4)
    assert second.values == {} and not second.raw


@pytest.mark.parametrize("compacted", [False, True])
def test_retention_sweep(database: str, compacted: bool) -> None:
    store, engine = _store(database)

    async def run() -> set[tuple[int, int]]:
        await _setup(engine)
        buckets = []
        for res, keep in RETENTION.items():
            for age in (keep - res, keep + res):  # just inside, just outside
                ts = (NOW - age) // res * res
                buckets.append(Bucket(f"k{res}", res, ts, "None", 1, 1, 1, 1, {1.0: 1}))
        await store.write(buckets)
        if compacted:  # in blocks: each sits in a block with its just-inside neighbour
            assert await store.compact(NOW) >= len(buckets)  # and their roll-ups
        # the fresh rows are rolled up (into blocks) before anything expires: the rows
        # past their retention never reach a block of their own resolution
        assert await store.expire(NOW) == 0
        left = set()
        for res in RETENTION:
            left |= {(b.resolution, NOW - b.ts) for b in
                     await store.read([f"k{res}"], res, 0, NOW)}
        await engine.dispose()
        return left

    left = asyncio.run(run())
    assert {res for res, _ in left} == set(RETENTION)
    assert all(age <= RETENTION[res] for res, age in left)


def _answers(store: EmbeddedStore) -> Any:
    async def run() -> Any:
        got: dict[str, Any] = {"buckets": [
            (b.metric_key, b.ts, b.unit, b.count, b.sum, b.minimum, b.maximum, b.values, b.raw)
            for b in await store.read(["a", "b"], 60, NOW - 86400 * 3, NOW)]}
        for stat in ("SampleCount", "Sum", "Average", "Minimum", "Maximum"):
            for period in (60, 300, 3600):
                for unit in (None, "Count"):
                    found = await store.stat_points(
                        ["a", "b", "c"], 60, (NOW - 86400 * 3) // 3600 * 3600, NOW - 30,
                        period, unit, stat)
                    got[f"{stat}/{period}/{unit}"] = {
                        key: dict(zip(*points, strict=True)) for key, points in found.items()}
        for resolution in (300, 3600):  # the roll-up (fresh rows folded in until compaction)
            first = (NOW - 86400 * 3) // 3600 * 3600
            got[f"buckets/{resolution}"] = [
                (b.metric_key, b.ts, b.unit, b.count, b.sum, b.minimum, b.maximum,
                 b.values, b.raw)
                for b in await store.read(["a", "b"], resolution, first, NOW)]
            for stat in ("SampleCount", "Sum", "Minimum", "Maximum"):
                found = await store.stat_points(["a", "b"], resolution, first, NOW - 30,
                                                3600, None, stat)
                got[f"{stat}/{resolution}"] = {
                    key: dict(zip(*points, strict=True)) for key, points in found.items()}
        return got
    return run()


def test_compaction_changes_no_answer(database: str) -> None:
    store, engine = _store(database)

    async def run() -> tuple[Any, Any, Any, Any, int]:
        await _setup(engine)
        buckets = []
        for minute in range(3 * 1440):  # three days over block boundaries, gaps
            if minute % 7 == 3:
                continue
            ts = (NOW - 86400 * 3) // 60 * 60 + minute * 60
            v = float(minute % 13)
            buckets.append(Bucket("a", 60, ts, "Count", 2, 2 * v + 1, v, v + 1,
                                  {v: 1, v + 1: 1}))
            if minute % 5 == 0:
                buckets.append(Bucket("a", 60, ts, "Bytes", 1, 5, 5, 5, {5.0: 1}))
                buckets.append(Bucket("b", 60, ts, "Count", 3, 0.3, 0.1, 0.1, {},
                                      raw=False))
        await store.write(buckets)
        before = await _answers(store)
        moved = await store.compact(NOW, batch=2000)  # a transaction a metric here
        after = await _answers(store)
        late = [Bucket("a", 60, NOW // 60 * 60 - 86400 * 2, "Count", 1, 100, 100, 100, {100.0: 1}),
                Bucket("b", 60, NOW // 60 * 60 - 86400 * 2 + 60, "Count", 1, 1, 1, 1, {1.0: 1})]
        await store.write(late)
        late_rows = await _answers(store)
        await store.compact(NOW)
        late_blocks = await _answers(store)
        await engine.dispose()
        return before, after, late_rows, late_blocks, moved

    before, after, late_rows, late_blocks, moved = asyncio.run(run())
    assert moved > 4000
    assert before["Average/60/None"]["a"] and before["SampleCount/300/Count"]["b"]
    assert after == before
    assert late_rows == late_blocks and late_rows != before
    # the 1-hour level holds every sample, rolled up or not (b: 3 a bucket, a minute in 5)
    assert sum(before["SampleCount/3600"]["b"].values()) == \
        3 * sum(1 for m in range(3 * 1440) if m % 7 != 3 and m % 5 == 0)
    assert before["buckets/300"] == after["buckets/300"]
    merged = late_rows["Maximum/60/None"]["a"][NOW // 60 * 60 - 86400 * 2]
    assert merged == 100


def test_fast_sqlite_writer_merges_and_waits_out_an_outside_writer(tmp_path: Path) -> None:
    """PutMetricData's plain-sqlite3 flush (``fastsql``) writes the rows the store reads
    back merged, also a bucket two grouped calls repeat; while a writer outside the
    engine's gate holds SQLite's lock it never fails: the writer thread waits for it."""
    import sqlite3
    import threading
    import time
    from datetime import UTC, datetime

    from cloudctl.services.cloudwatch import fastsql
    from cloudctl.services.cloudwatch.models import CwMetric
    from cloudctl.services.cloudwatch.store import UPSERT, point_rows

    store, engine = _store(tmp_path)
    path = str(tmp_path / "cw.db")
    fast = fastsql.FastPoints(path, None, UPSERT["sqlite"])
    catalog = [fastsql.catalog_row({"key": "k", "account_id": "000000000001",
                                    "region": "r", "namespace": "N", "name": "M",
                                    "dimensions": "[]",
                                    "last_seen": datetime(2026, 1, 2, 3, tzinfo=UTC)})]
    first = point_rows([Bucket("k", 60, 600, "None", 2, 10, 4, 6, {4.0: 1, 6.0: 1})])
    again = point_rows([Bucket("k", 60, 600, "None", 1, 1, 1, 1, {1.0: 1}),
                        Bucket("k", 60, 660, "None", 4, 8, 0, 4, {}, raw=False)])

    async def run() -> tuple[list[Bucket], float]:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all,
                                tables=[CwPoint.__table__, CwFresh.__table__, CwIngest.__table__, CwBlock.__table__,
                                        CwMetric.__table__])
        outside = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        outside.execute("PRAGMA journal_mode=WAL")
        outside.execute("BEGIN IMMEDIATE")  # e.g. a cloudctl command writing
        threading.Timer(0.5, outside.execute, ("COMMIT",)).start()
        started = time.monotonic()
        await fast.write(catalog, first + again)  # two grouped calls, one transaction
        waited = time.monotonic() - started
        await fast.write(catalog, [])
        got = await store.read(["k"], 60, 0, 1000)
        await engine.dispose()
        fast.close()
        outside.close()
        return got, waited

    (merged, unmerged), waited = asyncio.run(run())
    assert waited >= 0.4
    assert (merged.count, merged.sum, merged.minimum, merged.maximum) == (3, 11, 1, 6)
    assert merged.values == {4.0: 1, 6.0: 1, 1.0: 1} and merged.raw
    assert (unmerged.count, unmerged.sum) == (4, 8) and not unmerged.raw
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key, namespace, last_seen FROM cw_metrics").fetchall() == [
            ("k", "N", "2026-01-02 03:00:00.000000")]


def _compacting_after_first_fresh(store: EmbeddedStore) -> tuple[
        Callable[..., Awaitable[list[Bucket]]], list[int]]:
    """A stand-in for ``EmbeddedStore._fresh`` after whose first query another task's
    compaction commits (as between a read's queries), and the compactions' counts."""
    fresh = EmbeddedStore._fresh
    compacted: list[int] = []

    async def fresh_then_compact(*args: Any) -> list[Bucket]:
        found = await fresh(*args)
        if not compacted:
            compacted.append(await store.compact(NOW))
        return found

    return fresh_then_compact, compacted


def test_a_read_during_compaction_counts_every_bucket_once(database: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A read queries the fresh rows, the rolled-up rows and the blocks in turn; a
    compaction that commits between them (moving fresh rows into blocks) must not make
    the read see those rows twice: the read is one snapshot (found on SQLite, where each
    SELECT read its own: SampleCount doubled after a restart's compaction)."""
    from cloudctl.db.engine import create_engine

    engine = create_engine(database)
    store = EmbeddedStore(SimpleNamespace(sessions=async_sessionmaker(engine)))  # type: ignore[arg-type]
    fresh_then_compact, compacted = _compacting_after_first_fresh(store)

    async def run() -> tuple[list[Bucket], list[Bucket]]:
        await _setup(engine)
        start = (NOW - 600) // 60 * 60
        await store.write([Bucket("k", 60, start + 60 * i, "None", 1, float(i), i, i, {})
                           for i in range(5)])
        monkeypatch.setattr(EmbeddedStore, "_fresh", staticmethod(fresh_then_compact))
        during = await store.read(["k"], 60, start, start + 300, values=False)
        after = await store.read(["k"], 60, start, start + 300, values=False)
        await engine.dispose()
        return during, after

    during, after = asyncio.run(run())
    assert compacted and compacted[0] > 0  # the compaction did move the rows
    start = (NOW - 600) // 60 * 60
    assert [(b.ts, b.count) for b in during] == [(start + 60 * i, 1) for i in range(5)]
    assert [(b.ts, b.count) for b in after] == [(b.ts, b.count) for b in during]


def test_a_read_during_a_drain_and_compaction_counts_every_datum_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data in SQLite's ingest log (``ingestlog``) is read with the fresh rows, in the
    read's snapshot: a compaction committing between the read's queries (it drains the
    log into fresh rows, then moves those into blocks) must not make the read count a
    datum twice or miss it, and a drain alone changes no answer."""
    from cloudctl.db.engine import create_engine
    from cloudctl.services.cloudwatch import fastsql, ingestlog
    from cloudctl.services.cloudwatch.store import UPSERT

    path = tmp_path / "cw.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    writers: list[fastsql.FastPoints] = []  # the log's writer, which also drains it
    store = EmbeddedStore(SimpleNamespace(sessions=async_sessionmaker(engine)),  # type: ignore[arg-type]
                          lambda: writers[0] if writers else None)
    fresh_then_compact, compacted = _compacting_after_first_fresh(store)

    start = (NOW - 600) // 60 * 60
    logged = [("k", 60, start + 60 * i + 5 * j, "None", 1.0, float(i), float(i), float(i),
               f",{float(i)!r}", True) for i in range(5) for j in range(2)]

    async def run() -> tuple[Any, ...]:
        await _setup(engine)
        fast = fastsql.FastPoints(str(path), None, UPSERT["sqlite"])
        writers.append(fast)
        await fast.write([], [], ingestlog.pack(logged[:4]))
        await fast.write([], [], ingestlog.pack(logged[4:]))
        logged_only = await store.read(["k"], 60, start, start + 300)
        points = await store.stat_points(["k"], 60, start, start + 299, 60, None, "Sum")
        monkeypatch.setattr(EmbeddedStore, "_fresh", staticmethod(fresh_then_compact))
        during = await store.read(["k"], 60, start, start + 300)
        after = await store.read(["k"], 60, start, start + 300)
        after_points = await store.stat_points(["k"], 60, start, start + 299, 60, None,
                                               "Sum")
        async with engine.connect() as conn:
            left = (await conn.exec_driver_sql("SELECT count(*) FROM cw_ingest")).scalar_one()
        fast.close()
        await engine.dispose()
        return logged_only, points, during, after, after_points, left

    logged_only, points, during, after, after_points, left = asyncio.run(run())
    assert compacted and compacted[0] > 0 and left == 0  # drained, then moved
    want = [(start + 60 * i, 2.0, 2.0 * i, {float(i): 2.0}) for i in range(5)]
    for got in (logged_only, during, after):
        assert [(b.ts, b.count, b.sum, b.values) for b in got] == want
    assert points == after_points == {"k": ([start + 60 * i for i in range(5)],
                                            [2.0 * i for i in range(5)])}


def test_the_ingest_log_migration_keeps_data_both_ways(tmp_path: Path) -> None:
    """0039 adds the ingest log to a database holding fresh rows (kept as they are);
    its downgrade writes data still in the log into the fresh rows first, merged as
    ingest before 0039 merged them (nothing acknowledged is lost by going back)."""
    import sqlite3

    from cloudctl.db import migrate
    from cloudctl.services.cloudwatch import ingestlog

    path = tmp_path / "mig.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url, "0038_cloudwatch_fresh")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO cw_fresh VALUES ('k', 60, 600, 'Count', 1, 2.0, 2.0, 2.0, "
                   "',2.0', 1)")
    migrate.upgrade(url)
    rows = [("k", 60, ts, "Count", 1.0, v, v, v, f",{v!r}", True)
            for ts, v in ((600, 5.0), (600, -1.0), (605, 3.0))]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM cw_fresh").fetchone() == (1,)
        db.execute("INSERT INTO cw_ingest (data) VALUES (?)", (ingestlog.pack(rows[:2]),))
        db.execute("INSERT INTO cw_ingest (data) VALUES (?)", (ingestlog.pack(rows[2:]),))
    migrate.downgrade(url, "0038_cloudwatch_fresh")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT ts, count, sum, min, max, vals, raw FROM cw_fresh "
                          "ORDER BY ts").fetchall() == [
            (600, 3.0, 6.0, -1.0, 5.0, ",2.0,5.0,-1.0", 1), (605, 1.0, 3.0, 3.0, 3.0, ",3.0", 1)]
        assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'cw_ingest'"
                              ).fetchall()
