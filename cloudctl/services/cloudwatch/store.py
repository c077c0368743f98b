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
from cloudctl.services.cloudwatch.series import RETENTION, Bucket, decode_values, encode_values

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


class MetricStore(Protocol):
    """Buckets in, merged buckets out."""

    async def write(self, buckets: Sequence[Bucket]) -> None: ...

    async def read(self, keys: Sequence[str], resolution: int, start: int,
                   end: int) -> list[Bucket]: ...

    async def expire(self, now: float) -> int: ...

    async def close(self) -> None: ...


def dialect_insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert


def _bucket_row(b: Bucket) -> dict[str, Any]:
    return {"metric_key": b.metric_key, "resolution": b.resolution, "ts": b.ts,
            "unit": b.unit, "count": b.count, "sum": b.sum, "min": b.minimum,
            "max": b.maximum, "vals": encode_values(b.values) if b.raw else "",
            "raw": b.raw}


async def write_points(session: AsyncSession, buckets: Sequence[Bucket]) -> None:
    """Merge ``buckets`` into their rows within the caller's transaction."""
    if not buckets:
        return
    insert = dialect_insert(session)
    stmt = insert(CwPoint)
    ex = stmt.excluded
    postgres = session.get_bind().dialect.name == "postgresql"
    least = func.least if postgres else func.min
    greatest = func.greatest if postgres else func.max
    both_raw = and_(CwPoint.raw, ex.raw)
    stmt = stmt.on_conflict_do_update(
        index_elements=["metric_key", "resolution", "ts", "unit"],
        set_={"count": CwPoint.count + ex.count, "sum": CwPoint.sum + ex.sum,
              "min": least(CwPoint.min, ex.min), "max": greatest(CwPoint.max, ex.max),
              "raw": both_raw,
              "vals": _concat_if(both_raw, CwPoint.vals, ex.vals)})
    rows = [_bucket_row(b) for b in buckets]
    for i in range(0, len(rows), 500):
        await session.execute(stmt, rows[i:i + 500])


def _concat_if(cond: Any, left: Any, right: Any) -> Any:
    from sqlalchemy import case

    return case((cond, left + right), else_="")


def row_bucket(row: Any) -> Bucket:
    return Bucket(row.metric_key, row.resolution, row.ts, row.unit, row.count, row.sum,
                  row.min, row.max, decode_values(row.vals) if row.raw else {}, row.raw)


class EmbeddedStore:
    """The points in the cloud's database (``cw_points``)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def write(self, buckets: Sequence[Bucket]) -> None:
        async with self.cloud.sessions() as session, session.begin():
            await write_points(session, buckets)

    async def read(self, keys: Sequence[str], resolution: int, start: int,
                   end: int) -> list[Bucket]:
        out: list[Bucket] = []
        async with self.cloud.sessions() as session:
            for i in range(0, len(keys), 200):
                table = CwPoint.__table__
                query = select(table).where(
                    CwPoint.metric_key.in_(list(keys[i:i + 200])),
                    CwPoint.resolution == resolution, CwPoint.ts >= start, CwPoint.ts < end)
                result = await session.execute(query)
                out += [row_bucket(r) for r in result]
        out.sort(key=lambda b: (b.metric_key, b.ts, b.unit))
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
    """The process's metric store, as ``cloudwatch.metric_store`` names it."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.embedded = EmbeddedStore(cloud)
        self._cassandra: MetricStore | None = None
        self._lock = asyncio.Lock()
        # metric key -> when its catalog row was last refreshed (ListMetrics)
        self.seen: dict[str, float] = {}

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
