"""PutMetricData's row path (``ingest``): the usual call checked straight into
``cw_fresh`` rows, each a few-second part of its 1-minute bucket, on SQLite. It must
accept exactly what the full check accepts as usual and leave the rest to it, and the
store must answer every read (buckets, raw values, standard statistics at 60 s, 5 min
and 1 h, the 5-minute and 1-hour roll-up) from part rows as from the general path's
minute rows, before and after compaction."""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cloudctl.db.base import Base
from cloudctl.services.cloudwatch import fastsql, ingest, ingestlog
from cloudctl.services.cloudwatch.metrics import _datum
from cloudctl.services.cloudwatch.models import CwBlock, CwFresh, CwIngest, CwPoint
from cloudctl.services.cloudwatch.series import (
    Bucket,
    canonical_dimensions,
    decode_values,
    merge_buckets,
    metric_key_of,
    roll_up,
)
from cloudctl.services.cloudwatch.store import UPSERT, EmbeddedStore
from tests.unit.cloudwatch_cases import unusual_data

NOW = datetime.fromtimestamp(2_000_000_000 // 3600 * 3600 + 1500, UTC)
OLDEST, NEWEST = NOW - timedelta(days=14), NOW + timedelta(hours=2)
ACCOUNT, REGION = "000000000001", "r"


def _general(items: list[dict[str, Any]], namespace: str = "N") -> list[Bucket]:
    """The general path's finest buckets of ``items`` (``_datum``, ``roll_up``)."""
    keyed = []
    for i, item in enumerate(items, 1):
        datum = _datum(item, i, namespace, NOW)
        keyed.append((metric_key_of(ACCOUNT, REGION, namespace, datum.name,
                                    canonical_dimensions(datum.dimensions)), datum))
    return roll_up(keyed, NOW.timestamp(), coarse=False)


def _folded(rows: list[tuple[Any, ...]]) -> list[Bucket]:
    """Part rows as the readers fold them: into the bucket ``ts // resolution``."""
    return merge_buckets(
        Bucket(k, res, ts // res * res, unit, c, s, lo, hi,
               decode_values(vals) if raw else {}, raw)
        for k, res, ts, unit, c, s, lo, hi, vals, raw in rows)


def test_row_path_takes_what_the_full_check_takes_as_usual() -> None:
    dims = [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "z"}]
    usual = [
        {"MetricName": "M", "Value": 1.5},
        {"MetricName": "M", "Value": 0.0, "Unit": "Count", "Dimensions": dims},
        {"MetricName": "M" * 255, "Value": -2.0 ** 360, "Timestamp": OLDEST},
        {"MetricName": "M", "Value": 2.0 ** -360, "Timestamp": NEWEST, "Dimensions": []},
        {"MetricName": "M", "Value": 3.0, "Unit": "Bytes", "Dimensions": dims[::-1]},
        {"MetricName": "M", "Value": 4.0, "Timestamp": NOW - timedelta(seconds=37)},
    ]
    for item in usual:
        found = ingest.fresh_rows([item], ACCOUNT, REGION, "N", NOW, OLDEST, NEWEST)
        assert found is not None, item
        rows, named = found
        assert _folded(rows) == _general([item]), item
        assert all(ts % ingest.PART == 0 for _, _, ts, *_ in rows)
        assert list(named.values())[0][1] == tuple(sorted(
            (d["Name"], d["Value"]) for d in item.get("Dimensions", [])))
    rows, _ = ingest.fresh_rows(usual, ACCOUNT, REGION, "N", NOW, OLDEST,  # type: ignore[misc]
                                NEWEST)
    assert _folded(rows) == _general(usual)
    unusual = unusual_data(OLDEST, NEWEST, dims)
    for item in unusual:  # one unusual datum sends the whole call to the general path
        assert ingest.fresh_rows([usual[0], item], ACCOUNT, REGION, "N", NOW, OLDEST,
                                 NEWEST) is None, item


def _calls() -> list[list[dict[str, Any]]]:
    """Calls of 20 data over the last 30 minutes (a datum every 3 s for two metrics,
    two units, repeated values; some without a timestamp: the call's time)."""
    items = []
    for i in range(600):
        stamp = NOW - timedelta(seconds=1800 - 3 * i)
        item: dict[str, Any] = {
            "MetricName": "M", "Value": float(i % 7),
            "Unit": "Bytes" if i % 11 == 0 else "Count",
            "Dimensions": [{"Name": "Host", "Value": f"h{i % 2}"}, {"Name": "Az", "Value": "z"}]}
        if i % 13:
            item["Timestamp"] = stamp
        items.append(item)
    return [items[n:n + 20] for n in range(0, len(items), 20)]


async def _answers(store: EmbeddedStore, keys: list[str]) -> dict[str, Any]:
    start = int(NOW.timestamp()) // 3600 * 3600 - 3600
    end = int(NOW.timestamp()) + 60
    got: dict[str, Any] = {}
    for resolution in (60, 300, 3600):
        got[f"buckets/{resolution}"] = [
            (b.metric_key, b.ts, b.unit, b.count, b.sum, b.minimum, b.maximum, b.values, b.raw)
            for b in await store.read(keys, resolution, start, end)]
        for stat in ("SampleCount", "Sum", "Average", "Minimum", "Maximum"):
            for period in {resolution, 3600}:
                for unit in (None, "Count"):
                    found = await store.stat_points(keys, resolution, start, end - 1,
                                                    period, unit, stat)
                    got[f"{stat}/{resolution}/{period}/{unit}"] = {
                        k: dict(zip(*points, strict=True)) for k, points in found.items()}
    return got


def test_part_rows_answer_as_the_general_paths_minute_rows(tmp_path: Path) -> None:
    """Part rows upserted one a datum ("rows") and the same rows appended to the ingest
    log one row a call ("log": read from the log, then drained into part rows, then
    compacted) give every answer the general path's minute rows give."""
    calls = _calls()

    async def run() -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
        out: dict[str, dict[str, Any]] = {}
        fresh: dict[str, int] = {}
        for name in ("general", "rows", "log"):
            path = tmp_path / f"{name}.db"
            engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all, tables=[
                    CwPoint.__table__, CwFresh.__table__, CwIngest.__table__,
                    CwBlock.__table__])
            store = EmbeddedStore(SimpleNamespace(  # type: ignore[arg-type]
                sessions=async_sessionmaker(engine)))
            keys: set[str] = set()
            fast = fastsql.FastPoints(str(path), None, UPSERT["sqlite"])
            for items in calls:
                if name == "general":
                    buckets = _general(items)
                    await store.write(buckets)
                    keys |= {b.metric_key for b in buckets}
                    continue
                found = ingest.fresh_rows(items, ACCOUNT, REGION, "N", NOW, OLDEST, NEWEST)
                assert found is not None
                if name == "rows":
                    await fast.write([], found[0])
                else:
                    await fast.write([], [], ingestlog.pack(found[0]))
                keys |= set(found[1])

            async def count(table: str, engine: Any = engine) -> int:
                async with engine.connect() as conn:
                    return int((await conn.exec_driver_sql(
                        f"SELECT count(*) FROM {table}")).scalar_one())

            before = await _answers(store, sorted(keys))
            if name == "log":
                assert await count("cw_ingest") == len(calls)
                assert await count("cw_fresh") == 0
                assert await fast.drain() == len(calls)
                assert await count("cw_ingest") == 0
                assert await _answers(store, sorted(keys)) == before, "drained"
            fresh[name] = await count("cw_fresh")
            fast.close()
            assert await store.compact(NOW.timestamp() + 600) > 0
            after = await _answers(store, sorted(keys))
            assert after == before, name
            out[name] = before
            await engine.dispose()
        return out, fresh

    answers, fresh = asyncio.run(run())
    assert fresh["rows"] > fresh["general"]  # a minute's data in parts, not one row
    assert fresh["log"] == fresh["rows"]  # drained: one row a part
    assert answers["general"]["buckets/60"] and answers["general"]["buckets/3600"]
    assert answers["rows"] == answers["general"]
    assert answers["log"] == answers["general"]


def test_a_drain_folds_each_part_once_in_log_order() -> None:
    """``ingestlog.expanded``: one upsert row a (metric, part, unit), counts and sums
    added in the log's order, extremes kept, the raw values' text as one upsert a datum
    would have joined it."""
    rows = [("k", 60, 600, "Count", 1.0, v, v, v, f",{v!r}", True) for v in (3.0, -1.5, 2.0)]
    rows.append(("k", 60, 605, "Count", 1.0, 7.0, 7.0, 7.0, ",7.0", True))
    rows.append(("j", 60, 600, "Bytes", 1.0, 0.1, 0.1, 0.1, ",0.1", True))
    texts = [ingestlog.pack(rows[:2]), ingestlog.pack(rows[2:])]
    assert ingestlog.expanded(texts) == [
        ("j", 60, 600, "Bytes", 1.0, 0.1, 0.1, 0.1, ",0.1", True),
        ("k", 60, 600, "Count", 3.0, 3.5, -1.5, 3.0, ",3.0,-1.5,2.0", True),
        ("k", 60, 605, "Count", 1.0, 7.0, 7.0, 7.0, ",7.0", True)]
    assert ingestlog.drained([(2, texts[1]), (1, texts[0])]) == ingestlog.expanded(texts)
    # a read at 60 s or coarser sees the logged data of its metrics and range only
    assert ingestlog.entries(texts, ["k"], 60, 600, 605) == {
        "k": [(600, "Count", 3.0), (600, "Count", -1.5), (600, "Count", 2.0)]}
    assert ingestlog.entries(texts, ["k", "j"], 1, 0, 10_000) == {}
    # a log row is read as plain data only: a pickle naming a class is refused
    with pytest.raises(pickle.UnpicklingError):
        ingestlog.unpack(pickle.dumps([("k", 600, "Count", Fraction(1, 3))], 5))


def test_rows_made_for_sqlite_reach_another_store_whole() -> None:
    """Rows queued while ``cloudwatch.metric_store`` changes to Cassandra reach it as
    the buckets the general path gives it: every resolution (``series.coarsen`` of the
    rows' buckets is ``roll_up`` of the data)."""
    from cloudctl.services.cloudwatch.series import coarsen
    from cloudctl.services.cloudwatch.store import rows_bucket

    items = [item for call in _calls() for item in call]
    found = ingest.fresh_rows(items, ACCOUNT, REGION, "N", NOW, OLDEST, NEWEST)
    assert found is not None
    keyed = []
    for i, item in enumerate(items, 1):
        datum = _datum(item, i, "N", NOW)
        keyed.append((metric_key_of(ACCOUNT, REGION, "N", datum.name,
                                    canonical_dimensions(datum.dimensions)), datum))
    whole = coarsen(map(rows_bucket, found[0]), NOW.timestamp())
    assert {b.resolution for b in whole} == {60, 300, 3600}
    assert whole == roll_up(keyed, NOW.timestamp())


def _fold_one_by_one(entries: list[ingestlog.Logged]) -> list[tuple[Any, ...]]:
    """The upserts of ``entries`` one a datum, in order (what the log stands for)."""
    rows: dict[tuple[str, int, str], list[Any]] = {}
    for key, ts, unit, value in entries:
        row = rows.get((key, ts, unit))
        if row is None:
            rows[(key, ts, unit)] = [1.0, value, value, value, f",{value!r}"]
            continue
        row[0] += 1.0
        row[1] += value
        row[2] = value if value < row[2] else row[2]
        row[3] = value if value > row[3] else row[3]
        row[4] += f",{value!r}"
    return [(key, 60, ts, unit, *row, True) for (key, ts, unit), row in sorted(rows.items())]


def test_the_log_holds_the_entries_the_rows_are_drained_from() -> None:
    """``fresh_entries`` (what ``put_plain`` logs) packs as ``fresh_rows`` does, and a
    drain's fold (values gathered, then added in order) is the upserts' one a datum:
    sums in order to the last bit, the first of equal extremes (0.0 and -0.0) kept."""
    items = [item for call in _calls() for item in call]
    found = ingest.fresh_entries(items, ACCOUNT, REGION, "N", NOW, OLDEST, NEWEST)
    rows = ingest.fresh_rows(items, ACCOUNT, REGION, "N", NOW, OLDEST, NEWEST)
    assert found is not None and rows is not None
    assert ingestlog.pack_entries(found[0]) == ingestlog.pack(rows[0])
    assert found[1] == rows[1]
    values = [0.1, 0.2, 0.3, -0.0, 0.0, 1e16, 1.0, -1e16, 1e-300, 2.5, -0.0]
    entries: list[ingestlog.Logged] = [
        ("k", 600 + 5 * (i % 2), "Count", v) for i, v in enumerate(values * 3)]
    entries += [("j", 600, "None", -0.0), ("j", 600, "None", 0.0), ("i", 600, "None", -0.0)]
    texts = [ingestlog.pack_entries(entries[:7]), ingestlog.pack_entries(entries[7:])]
    got = ingestlog.expanded(texts)
    assert [repr(r) for r in got] == [repr(r) for r in _fold_one_by_one(entries)]


def _holder(path: Path) -> tuple[Any, Any]:
    """A store holder (the group commit and the ingest log's drain) on ``path``."""
    from cloudctl.services.cloudwatch import store as store_module

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    cloud = SimpleNamespace(sessions=async_sessionmaker(engine), engine=engine,
                            properties=SimpleNamespace(get=lambda _name: "embedded"))
    return engine, store_module.StoreHolder(cloud)  # type: ignore[arg-type]


async def _tables(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[
            CwPoint.__table__, CwFresh.__table__, CwIngest.__table__, CwBlock.__table__])


def test_a_call_received_while_the_flush_waits_joins_its_commit(tmp_path: Path) -> None:
    """The group commit waits ``store.FLUSH_TURNS`` loop turns before it takes its
    calls: a call reaching the holder a turn after the first (a request the loop read
    meanwhile) is written by the same commit, not by a second one after it."""
    path = tmp_path / "cw.db"
    engine, holder = _holder(path)
    start = int(NOW.timestamp()) // 60 * 60

    async def run() -> tuple[int, list[Bucket]]:
        await _tables(engine)
        first = asyncio.create_task(holder.ingest_rows([], [("k", start, "Count", 1.0)]))
        await asyncio.sleep(0)  # the first call is in: its flush is on its way
        second = asyncio.create_task(holder.ingest_rows([], [("k", start, "Count", 2.0)]))
        await asyncio.gather(first, second)
        flushes = holder.flushes
        got = await holder.embedded.read(["k"], 60, start, start + 60)
        await holder.close()
        await engine.dispose()
        return flushes, got

    flushes, got = asyncio.run(run())
    assert flushes == 1
    assert [(b.count, b.sum) for b in got] == [(2.0, 3.0)]


def test_the_log_is_drained_a_second_after_a_flush(tmp_path: Path) -> None:
    """The holder drains the ingest log ``ingestlog.DRAIN_AFTER`` (1 s) after a flush
    appended to it: half a second later the data is still in the log (and read from
    there), well after it is in ``cw_fresh``."""
    import sqlite3

    path = tmp_path / "cw.db"
    engine, holder = _holder(path)
    start = int(NOW.timestamp()) // 60 * 60

    def rows(table: str) -> int:
        with sqlite3.connect(path) as db:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    async def run() -> list[tuple[int, int]]:
        await _tables(engine)
        await holder.ingest_rows([], [("k", start, "Count", 1.0)])
        seen = [(rows("cw_ingest"), rows("cw_fresh"))]
        await asyncio.sleep(0.6)
        seen.append((rows("cw_ingest"), rows("cw_fresh")))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if rows("cw_ingest") == 0:
                break
        seen.append((rows("cw_ingest"), rows("cw_fresh")))
        await holder.close()
        await engine.dispose()
        return seen

    assert asyncio.run(run()) == [(1, 0), (1, 0), (0, 1)]
