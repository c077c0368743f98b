"""PutMetricData's row path (``ingest``): the usual call checked straight into
``cw_fresh`` rows, each a few-second part of its 1-minute bucket, on SQLite. It must
accept exactly what the full check accepts as usual and leave the rest to it, and the
store must answer every read (buckets, raw values, standard statistics at 60 s, 5 min
and 1 h, the 5-minute and 1-hour roll-up) from part rows as from the general path's
minute rows, before and after compaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cloudctl.db.base import Base
from cloudctl.services.cloudwatch import fastsql, ingest
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
    calls = _calls()

    async def run() -> tuple[list[dict[str, Any]], list[int]]:
        out, fresh = [], []
        for name, rows_path in (("general", False), ("rows", True)):
            path = tmp_path / f"{name}.db"
            engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all, tables=[
                    CwPoint.__table__, CwFresh.__table__, CwIngest.__table__, CwBlock.__table__])
            store = EmbeddedStore(SimpleNamespace(  # type: ignore[arg-type]
                sessions=async_sessionmaker(engine)))
            keys: set[str] = set()
            fast = fastsql.FastPoints(str(path), None, UPSERT["sqlite"])
            for items in calls:
                if rows_path:
                    found = ingest.fresh_rows(items, ACCOUNT, REGION, "N", NOW, OLDEST,
                                              NEWEST)
                    assert found is not None
                    await fast.write([], found[0])
                    keys |= set(found[1])
                else:
                    buckets = _general(items)
                    await store.write(buckets)
                    keys |= {b.metric_key for b in buckets}
            fast.close()
            async with engine.connect() as conn:
                fresh.append((await conn.exec_driver_sql(
                    "SELECT count(*) FROM cw_fresh")).scalar_one())
            before = await _answers(store, sorted(keys))
            assert await store.compact(NOW.timestamp() + 600) > 0
            after = await _answers(store, sorted(keys))
            assert after == before, name
            out.append(before)
            await engine.dispose()
        return out, fresh

    (general, rows), (general_rows, part_rows) = asyncio.run(run())
    assert part_rows > general_rows  # a minute's data in parts, not one row
    assert general["buckets/60"] and general["buckets/3600"]
    assert rows == general


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
