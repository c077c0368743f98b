"""The Cassandra metric store (``cloudwatch.metric_store = cassandra``).

Partial buckets are appended (one row per ingest call and bucket, ``USING TTL`` of the
resolution's retention, so Cassandra expires them itself) under the partition
(metric, resolution, ``ts // (resolution * 10000)``); a read merges the partials of each
bucket (``series.merge_buckets``), giving the embedded store's results. Needs a
Cassandra speaking native protocol v3 or later (cassandra-driver).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from cloudctl.services.cloudwatch.series import (
    RETENTION,
    Bucket,
    decode_values,
    encode_values,
    merge_buckets,
)

SPAN = 10000  # buckets per partition


def part(resolution: int, ts: int) -> int:
    return ts // (resolution * SPAN)


def _settle(done: asyncio.Future[Any], rows: Any, exc: BaseException | None) -> None:
    if done.done():
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(rows)


async def _wait(future: Any) -> list[Any]:
    """A cassandra-driver ResponseFuture as an awaitable (the driver calls back from its
    own threads; paging is off: ``default_fetch_size = None``)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    future.add_callbacks(lambda rows: loop.call_soon_threadsafe(_settle, done, rows, None),
                         lambda exc: loop.call_soon_threadsafe(_settle, done, None, exc))
    rows = await done
    return list(rows) if rows is not None else []


class CassandraStore:
    """Metric buckets in a Cassandra keyspace."""

    def __init__(self, cluster: Any, session: Any) -> None:
        self.cluster = cluster
        self.session = session
        self._insert = session.prepare(
            "INSERT INTO points (metric_key, resolution, part, ts, unit, id, count, sum, "
            "min, max, vals, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?")
        self._select = session.prepare(
            "SELECT ts, unit, count, sum, min, max, vals, raw FROM points WHERE "
            "metric_key = ? AND resolution = ? AND part = ? AND ts >= ? AND ts < ?")

    @classmethod
    async def connect(cls, contact_points: str, keyspace: str) -> CassandraStore:
        return await asyncio.to_thread(cls._connect, contact_points, keyspace)

    @classmethod
    def _connect(cls, contact_points: str, keyspace: str) -> CassandraStore:
        from cassandra.cluster import Cluster  # type: ignore[import-untyped]

        hosts, port = [], 9042
        for item in contact_points.split(","):
            host, _, number = item.strip().partition(":")
            if host:
                hosts.append(host)
            if number:
                port = int(number)
        cluster = Cluster(hosts, port=port, protocol_version=3, connect_timeout=10)
        session = cluster.connect()
        session.default_fetch_size = None
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.set_keyspace(keyspace)
        session.execute(
            "CREATE TABLE IF NOT EXISTS points (metric_key text, resolution int, part bigint, "
            "ts bigint, unit text, id timeuuid, count double, sum double, min double, "
            "max double, vals text, raw boolean, "
            "PRIMARY KEY ((metric_key, resolution, part), ts, unit, id))")
        return cls(cluster, session)

    async def write(self, buckets: Sequence[Bucket]) -> None:
        """Append the buckets, in unlogged batches (one request per 100 rows)."""
        from cassandra.query import BatchStatement, BatchType  # type: ignore[import-untyped]

        now = time.time()
        pending = []
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        size = 0
        for b in buckets:
            ttl = int(RETENTION[b.resolution] - (now - b.ts))
            if ttl < 1:
                continue
            batch.add(self._insert, (
                b.metric_key, b.resolution, part(b.resolution, b.ts), b.ts, b.unit,
                uuid.uuid1(), b.count, b.sum, b.minimum, b.maximum,
                encode_values(b.values) if b.raw else "", b.raw, ttl))
            size += 1
            if size == 100:
                pending.append(_wait(self.session.execute_async(batch)))
                batch, size = BatchStatement(batch_type=BatchType.UNLOGGED), 0
        if size:
            pending.append(_wait(self.session.execute_async(batch)))
        await asyncio.gather(*pending)

    async def read(self, keys: Sequence[str], resolution: int, start: int,
                   end: int, values: bool = True) -> list[Bucket]:
        queries = []
        for key in keys:
            for p in range(part(resolution, start), part(resolution, max(start, end - 1)) + 1):
                queries.append((key, self.session.execute_async(
                    self._select, (key, resolution, p, start, end))))
        out: list[Bucket] = []
        for key, future in queries:
            for r in await _wait(future):
                out.append(Bucket(key, resolution, int(r.ts), r.unit, r.count, r.sum, r.min,
                                  r.max, decode_values(r.vals) if values and r.raw else {}, bool(r.raw)))
        merged = merge_buckets(out)
        merged.sort(key=lambda b: (b.metric_key, b.ts, b.unit))
        return merged

    async def aggregate(self, keys: Sequence[str], resolution: int, start: int, end: int,
                        period: int, unit: str | None) -> list[tuple[str, int, float, float,
                                                                      float, float]]:
        from cloudctl.services.cloudwatch.store import aggregate_buckets

        buckets = await self.read(keys, resolution, start, end, values=False)
        return aggregate_buckets(buckets, start, period, unit)

    async def stat_points(self, keys: Sequence[str], resolution: int, start: int, end: float,
                          period: int, unit: str | None, stat: str) -> dict[str, tuple[list[int], list[float]]]:
        from cloudctl.services.cloudwatch.store import points_of

        rows = await self.aggregate(keys, resolution, start, int(end) + 1, period, unit)
        return points_of(rows, keys, end, stat)

    async def compact(self, now: float) -> int:
        return 0  # partial buckets are merged when read

    async def expire(self, now: float) -> int:
        return 0  # rows carry their TTL

    async def close(self) -> None:
        await asyncio.to_thread(self.cluster.shutdown)
