"""Where metric buckets live: the embedded store (the cloud's database) and the holder
that picks it or Cassandra (``cloudwatch.metric_store``).

Both stores take buckets rolled up by ``series.roll_up`` and give back one merged
bucket per (metric, resolution, start, unit); the embedded store merges on ingest with
``INSERT ... ON CONFLICT DO UPDATE`` (one row a bucket), Cassandra appends partial
buckets with a TTL of the resolution's retention and merges them when read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.cloudwatch import properties as props
from cloudctl.services.cloudwatch.models import CwPoint
from cloudctl.services.cloudwatch.series import (
    RETENTION,
    Bucket,
    decode_values,
    encode_values,
    merge_buckets,
)

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


class MetricStore(Protocol):
    """Buckets in, merged buckets out."""

    async def write(self, buckets: Sequence[Bucket]) -> None: ...

    async def read(self, keys: Sequence[str], resolution: int, start: int,
                   end: int, values: bool = True) -> list[Bucket]:
        """Merged buckets of ``keys``; ``values=False`` leaves the raw values out (no
        percentile asked: less to read and decode)."""
        ...

    async def aggregate(self, keys: Sequence[str], resolution: int, start: int, end: int,
                        period: int, unit: str | None) -> list[Slot]:
        """(metric, period start) -> count, sum, min, max of every bucket in that period
        (``unit`` filters), for the statistics that need no raw values."""
        ...

    async def expire(self, now: float) -> int: ...

    async def close(self) -> None: ...


Slot = tuple[str, int, float, float, float, float]  # key, period start, count, sum, min, max


def aggregate_buckets(buckets: Sequence[Bucket], start: int, period: int,
                      unit: str | None) -> list[Slot]:
    """``MetricStore.aggregate`` over buckets read whole (stores that cannot push it down)."""
    merged: dict[tuple[str, int], list[float]] = {}
    for b in buckets:
        if unit is not None and b.unit != unit:
            continue
        slot = start + (b.ts - start) // period * period
        known = merged.get((b.metric_key, slot))
        if known is None:
            merged[(b.metric_key, slot)] = [b.count, b.sum, b.minimum, b.maximum]
        else:
            known[0] += b.count
            known[1] += b.sum
            known[2] = min(known[2], b.minimum)
            known[3] = max(known[3], b.maximum)
    return [(k, t, *v) for (k, t), v in sorted(merged.items())]  # type: ignore[misc]


def dialect_insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert


_UPSERT = (
    "INSERT INTO cw_points (metric_key, resolution, ts, unit, count, sum, min, max, vals, raw) "
    "VALUES ({p}) ON CONFLICT (metric_key, resolution, ts, unit) DO UPDATE SET "
    "count = cw_points.count + excluded.count, sum = cw_points.sum + excluded.sum, "
    "min = {least}(cw_points.min, excluded.min), max = {greatest}(cw_points.max, excluded.max), "
    "vals = CASE WHEN cw_points.raw AND excluded.raw THEN cw_points.vals || excluded.vals "
    "ELSE '' END, raw = cw_points.raw AND excluded.raw")
UPSERT = {
    "sqlite": _UPSERT.format(p=", ".join(["?"] * 10), least="min", greatest="max"),
    "postgresql": _UPSERT.format(p=", ".join(["%s"] * 10), least="least",
                                 greatest="greatest"),
}


async def write_points(session: AsyncSession, buckets: Sequence[Bucket]) -> None:
    """Merge ``buckets`` into their rows within the caller's transaction (one driver-level
    executemany of an upsert: the right-hand sides read the row as it was)."""
    if not buckets:
        return
    connection = await session.connection()
    sql = UPSERT["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    rows = [(b.metric_key, b.resolution, b.ts, b.unit, b.count, b.sum, b.minimum,
             b.maximum, encode_values(b.values) if b.raw else "", b.raw) for b in buckets]
    await connection.exec_driver_sql(sql, rows)  # type: ignore[arg-type]


def row_bucket(row: Any, values: bool = True) -> Bucket:
    return Bucket(row.metric_key, row.resolution, row.ts, row.unit, row.count, row.sum,
                  row.min, row.max, decode_values(row.vals) if values and row.raw else {},
                  row.raw)


class EmbeddedStore:
    """The points in the cloud's database (``cw_points``)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def write(self, buckets: Sequence[Bucket]) -> None:
        async with self.cloud.sessions() as session, session.begin():
            await write_points(session, buckets)

    async def read(self, keys: Sequence[str], resolution: int, start: int,
                   end: int, values: bool = True) -> list[Bucket]:
        out: list[Bucket] = []
        table = CwPoint.__table__
        columns = [c for c in table.c if values or c.name != "vals"]
        async with self.cloud.sessions() as session:
            for i in range(0, len(keys), 200):
                query = select(*columns).where(
                    CwPoint.metric_key.in_(list(keys[i:i + 200])),
                    CwPoint.resolution == resolution, CwPoint.ts >= start, CwPoint.ts < end)
                result = await session.execute(query)
                out += [row_bucket(r, values) for r in result]
        out.sort(key=lambda b: (b.metric_key, b.ts, b.unit))
        return out

    async def aggregate(self, keys: Sequence[str], resolution: int, start: int, end: int,
                        period: int, unit: str | None) -> list[Slot]:
        """Pushed down: the database sums the buckets of each period."""
        table = CwPoint.__table__
        col = table.c
        slot = (start + (col.ts - start) // period * period).label("slot")
        out: list[Slot] = []
        async with self.cloud.sessions() as session:
            for i in range(0, len(keys), 200):
                query = select(col.metric_key, slot, func.sum(col.count), func.sum(col.sum),
                               func.min(col.min), func.max(col.max)).where(
                    col.metric_key.in_(list(keys[i:i + 200])), col.resolution == resolution,
                    col.ts >= start, col.ts < end)
                if unit is not None:
                    query = query.where(col.unit == unit)
                query = query.group_by(col.metric_key, slot)
                out += [(r[0], int(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
                        for r in await session.execute(query)]
        out.sort()
        return out

    async def expire(self, now: float) -> int:
        removed = 0
        async with self.cloud.sessions() as session, session.begin():
            cond = or_(*[and_(CwPoint.resolution == res, CwPoint.ts < int(now - keep))
                         for res, keep in RETENTION.items()])
            result = await session.execute(delete(CwPoint).where(cond))
            removed = int(getattr(result, "rowcount", 0) or 0)
        return removed

    async def close(self) -> None:
        return None


class StoreHolder:
    """The process's metric store, as ``cloudwatch.metric_store`` names it, and its
    group commit: concurrent PutMetricData calls of this process are written together
    (their buckets merged, one transaction), each call answered after the transaction
    that holds its data committed (nothing acknowledged is lost to a crash)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.embedded = EmbeddedStore(cloud)
        self._cassandra: MetricStore | None = None
        self._lock = asyncio.Lock()
        # metric key -> when its catalog row was last refreshed (ListMetrics)
        self.seen: dict[str, float] = {}
        self._pending: list[tuple[list[dict[str, Any]], list[Bucket],
                                  asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.flushes = 0

    async def ingest(self, catalog: list[dict[str, Any]], buckets: list[Bucket]) -> None:
        """Write catalog rows and buckets with whatever else is waiting; returns once
        they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((catalog, buckets, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        await done

    async def _flush_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._flush([c for c, _, _ in batch],
                                  merge_buckets(b for _, bs, _ in batch for b in bs))
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _flush(self, catalogs: list[list[dict[str, Any]]],
                     buckets: list[Bucket]) -> None:
        from cloudctl.services.cloudwatch.models import CwMetric

        self.flushes += 1
        rows = {row["key"]: row for catalog in catalogs for row in catalog}
        store = await self.store()
        async with self.cloud.sessions() as session, session.begin():
            if rows:
                insert = dialect_insert(session)
                stmt = insert(CwMetric.__table__)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["key"], set_={"last_seen": stmt.excluded.last_seen})
                await session.execute(stmt, [rows[k] for k in sorted(rows)])
            if store is self.embedded:
                await write_points(session, buckets)
        if store is not self.embedded:
            await store.write(buckets)

    @property
    def kind(self) -> str:
        return str(self.cloud.properties.get(props.METRIC_STORE))

    async def store(self) -> MetricStore:
        if self.kind != "cassandra":
            return self.embedded
        async with self._lock:
            if self._cassandra is None:
                from cloudctl.services.cloudwatch.cassandra import CassandraStore

                points = str(self.cloud.properties.get(props.CASSANDRA_CONTACT_POINTS))
                keyspace = str(self.cloud.properties.get(props.CASSANDRA_KEYSPACE))
                self._cassandra = await CassandraStore.connect(points, keyspace)
            return self._cassandra

    def stale(self, key: str, now: float | None = None) -> bool:
        """Whether the catalog row of ``key`` needs its last-seen time refreshed."""
        now = time.time() if now is None else now
        return now - self.seen.get(key, 0.0) > 60.0

    async def close(self) -> None:
        if self._cassandra is not None:
            await self._cassandra.close()


STORE = RuntimeKey[StoreHolder]("cloudwatch.store")
