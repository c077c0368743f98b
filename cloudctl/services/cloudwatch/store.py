"""Where metric buckets live: the embedded store (the cloud's database) and the holder
that picks it or Cassandra (``cloudwatch.metric_store``).

Both stores take buckets rolled up by ``series.roll_up`` and give back one merged
bucket per (metric, resolution, start, unit). The embedded store is given the finest
buckets only (1 s or 1 min) and merges them on ingest with ``INSERT ... ON CONFLICT DO
UPDATE`` (one ``cw_fresh`` row a bucket; PutMetricData's usual call on SQLite writes
one row a ``ingest.PART``-second part of a 1-minute bucket, ``ts`` the part's start:
every reader folds fresh rows into buckets by ``ts // resolution``). On SQLite the
usual calls of a group commit are appended to the ingest log instead (``ingestlog``:
one row a flush), drained into their ``cw_fresh`` rows ``ingestlog.DRAIN_AFTER``
seconds later and at the start of every compaction; every reader of fresh rows reads
the log in the same snapshot (``_logged``). Compaction moves
closed fresh rows into packed blocks (``blocks``; statistics are then array arithmetic)
of their resolution and merges them into the ``cw_points`` rows of every coarser
resolution still retained (the roll-up, done once, in the transaction that deletes the
fresh row); closed ``cw_points`` rows go into their blocks in turn. A read of a resolution adds the fresh rows of finer
ones not yet rolled up, so no answer depends on whether compaction ran. Cassandra is
given every resolution, appends partial buckets with a TTL of the resolution's
retention and merges them when read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.db.writegate import gate_for
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.cloudwatch import fastsql, ingestlog, slots
from cloudctl.services.cloudwatch import properties as props
from cloudctl.services.cloudwatch.models import CwBlock, CwPoint
from cloudctl.services.cloudwatch.series import (
    RESOLUTIONS,
    RETENTION,
    Bucket,
    coarsen,
    decode_values,
    encode_values,
    merge_buckets,
)
from cloudctl.services.cloudwatch.slots import Points
from cloudctl.services.cloudwatch.stats import standard_points

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

# ``blocks`` (and NumPy behind it, a tenth of a second and more of a process start) is
# imported where a block's arrays are read or written, block boundaries come from
# ``slots``: a cloud that stores no metric never imports NumPy (``catalog.preload``
# still imports it once in the parent of forked workers)


CATALOG_REFRESH = 60.0  # seconds between refreshes of a metric's catalog row (last seen)


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

    async def stat_points(self, keys: Sequence[str], resolution: int, start: int, end: float,
                          period: int, unit: str | None, stat: str) -> dict[str, Points]:
        """metric -> the period starts before ``end`` with samples (ascending) and their
        standard statistic ``stat``."""
        ...

    async def compact(self, now: float) -> int:
        """Stores that merge on read: pack closed buckets (the buckets moved)."""
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


def points_of(rows: Sequence[Slot], keys: Sequence[str], end: float,
              stat: str) -> dict[str, Points]:
    """``MetricStore.stat_points`` from ``MetricStore.aggregate``'s rows."""
    by_metric: dict[str, list[Slot]] = {key: [] for key in keys}
    for row in rows:
        if row[1] < end:
            by_metric[row[0]].append(row)
    out: dict[str, Points] = {}
    for key, found in by_metric.items():
        points = standard_points(found, stat)
        stamps = sorted(points)
        out[key] = (stamps, [points[t] for t in stamps])
    return out


def dialect_insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert


_UPSERT = (
    "INSERT INTO {t} (metric_key, resolution, ts, unit, count, sum, min, max, vals, raw) "
    "VALUES ({p}) ON CONFLICT (metric_key, resolution, ts, unit) DO UPDATE SET "
    "count = {t}.count + excluded.count, sum = {t}.sum + excluded.sum, "
    "min = {least}({t}.min, excluded.min), max = {greatest}({t}.max, excluded.max), "
    "vals = CASE WHEN {t}.raw AND excluded.raw THEN {t}.vals || excluded.vals "
    "ELSE '' END, raw = {t}.raw AND excluded.raw")


def _upsert(table: str, dialect: str) -> str:
    if dialect == "postgresql":
        return _UPSERT.format(t=table, p=", ".join(["%s"] * 10), least="least",
                              greatest="greatest")
    return _UPSERT.format(t=table, p=", ".join(["?"] * 10), least="min", greatest="max")


UPSERT = {dialect: _upsert("cw_fresh", dialect) for dialect in ("sqlite", "postgresql")}
ROLLED = {dialect: _upsert("cw_points", dialect) for dialect in ("sqlite", "postgresql")}
# the tables compaction drains, in this order: the fresh rows (each into the blocks of
# its resolution, rolled up into the ``cw_points`` rows of every coarser one) and the
# rolled-up rows (each into its own blocks, once its bucket closed)
_DRAINED = (("cw_fresh", True), ("cw_points", False))


async def write_points(session: AsyncSession, buckets: Sequence[Bucket]) -> None:
    """Merge ``buckets`` into their ``cw_fresh`` rows within the caller's transaction (one
    driver-level executemany of an upsert: the right-hand sides read the row as it
    was). A bucket of resolution r counts at r and every coarser resolution."""
    if not buckets:
        return
    connection = await session.connection()
    sql = UPSERT["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    await connection.exec_driver_sql(sql, point_rows(buckets))  # type: ignore[arg-type]


def point_rows(buckets: Sequence[Bucket]) -> list[tuple[Any, ...]]:
    """The upsert's parameters of each bucket."""
    return [(b.metric_key, b.resolution, b.ts, b.unit, b.count, b.sum, b.minimum,
             b.maximum, encode_values(b.values) if b.raw else "", b.raw) for b in buckets]


def rows_bucket(row: tuple[Any, ...]) -> Bucket:
    """The bucket of a ``point_rows`` row."""
    key, resolution, ts, unit, count, total, low, high, vals, raw = row
    return Bucket(key, resolution, ts, unit, count, total, low, high,
                  decode_values(vals) if raw else {}, bool(raw))


def row_bucket(row: Any, values: bool = True) -> Bucket:
    return Bucket(row.metric_key, row.resolution, row.ts, row.unit, row.count, row.sum,
                  row.min, row.max, decode_values(row.vals) if values and row.raw else {},
                  row.raw)


class EmbeddedStore:
    """The points in the cloud's database: finest buckets as rows (``cw_fresh``, merged
    on ingest) until compaction moves the closed ones into packed blocks (``cw_blocks``)
    and rolls them up into coarser rows (``cw_points``, themselves moved into blocks
    once closed); reads see all three, in one snapshot."""

    def __init__(self, cloud: Cloud,
                 fast: Callable[[], fastsql.FastPoints | None] | None = None) -> None:
        self.cloud = cloud
        # the plain sqlite3 writer that appends the ingest log (file-backed SQLite
        # only), made on first use by the holder: the one place the log is drained
        self._fast = fast

    async def write(self, buckets: Sequence[Bucket]) -> None:
        async with self.cloud.sessions() as session, session.begin():
            await write_points(session, buckets)

    async def _snapshot(self, session: AsyncSession) -> tuple[Any, str]:
        """The session's connection reading one snapshot (rows and blocks must agree
        while compaction moves buckets between them) and the driver's placeholder."""
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return connection, "%s"
        # Python's sqlite3 opens no transaction for a SELECT: each statement would read
        # its own snapshot, and a compaction committed between the fresh rows' query and
        # the blocks' would be read twice. A deferred BEGIN makes the statements one WAL
        # read transaction (ended by the session's rollback when it closes).
        await connection.exec_driver_sql("BEGIN")
        return connection, "?"

    async def read(self, keys: Sequence[str], resolution: int, start: int,
                   end: int, values: bool = True) -> list[Bucket]:
        out: list[Bucket] = []
        table = CwPoint.__table__
        columns = [c for c in table.c if values or c.name != "vals"]
        blocked = False
        async with self.cloud.sessions() as session:
            connection, mark = await self._snapshot(session)
            logged = await _logged(connection, keys, resolution,
                                   *_covering(start, end, resolution))
            for i in range(0, len(keys), 200):
                chunk = list(keys[i:i + 200])
                query = select(*columns).where(
                    CwPoint.metric_key.in_(chunk),
                    CwPoint.resolution == resolution, CwPoint.ts >= start, CwPoint.ts < end)
                result = await session.execute(query)
                out += [row_bucket(r, values) for r in result]
                fresh = await self._fresh(connection, mark, chunk, resolution, start, end,
                                          values, logged)
                if fresh:
                    blocked = True
                    out += fresh
                found = await connection.exec_driver_sql(
                    f"SELECT metric_key, start, unit, count, sum, min, max, raw"
                    f"{', vals' if values else ''} FROM cw_blocks WHERE metric_key IN "
                    f"({', '.join([mark] * len(chunk))}) AND resolution = {mark} "
                    f"AND start >= {mark} AND start < {mark}",
                    (*chunk, resolution, slots.block_start(resolution, start), end))
                for row in found.all():
                    blocked = True
                    out += block_buckets(row, resolution, start, end, values)
        if blocked:
            out = merge_buckets(out)
        out.sort(key=lambda b: (b.metric_key, b.ts, b.unit))
        return out

    @staticmethod
    async def _fresh(connection: Any, mark: str, chunk: list[str], resolution: int,
                     start: int, end: int, values: bool,
                     logged: dict[str, list[ingestlog.Entry]]) -> list[Bucket]:
        """The ``cw_fresh`` rows of ``chunk`` at ``resolution`` or finer (not yet
        rolled up) whose ``resolution`` bucket starts in [start, end), and the chunk's
        entries of the ingest log (``logged``, the read's), as partial buckets of that
        resolution."""
        lo, hi = _covering(start, end, resolution)
        found = await connection.exec_driver_sql(
            f"SELECT metric_key, ts, unit, count, sum, min, max, raw"
            f"{', vals' if values else ''} FROM cw_fresh WHERE metric_key IN "
            f"({', '.join([mark] * len(chunk))}) AND resolution <= {mark} "
            f"AND ts >= {mark} AND ts < {mark}", (*chunk, resolution, lo, hi))
        out = [Bucket(r[0], resolution, r[1] // resolution * resolution, r[2], r[3], r[4],
                      r[5], r[6], decode_values(r[8]) if values and r[7] else {},
                      bool(r[7])) for r in found.all()]
        for key in chunk:
            items = logged.get(key, ())
            out += [Bucket(key, resolution, ts // resolution * resolution, unit, 1.0, value,
                           value, value, {value: 1.0} if values else {}, True)
                    for ts, unit, value in items]
        return out

    async def aggregate(self, keys: Sequence[str], resolution: int, start: int, end: int,
                        period: int, unit: str | None) -> list[Slot]:
        buckets = await self.read(keys, resolution, start, end, values=False)
        return aggregate_buckets(buckets, start, period, unit)

    async def stat_points(self, keys: Sequence[str], resolution: int, start: int, end: float,
                          period: int, unit: str | None, stat: str) -> dict[str, Points]:
        """Array arithmetic over whole blocks and the few buckets not yet compacted:
        one statement for the blocks and one for the rows a chunk of metrics, no Python
        object per bucket."""
        from cloudctl.services.cloudwatch import blocks

        stop = int(end) + 1
        n = -(-(stop - start) // resolution)
        dense = {key: blocks.Dense(start, resolution, n) for key in keys}
        extremes = stat in ("Minimum", "Maximum")
        async with self.cloud.sessions() as session:
            connection, mark = await self._snapshot(session)
            lo, hi = _covering(start, stop, resolution)
            logged = await _logged(connection, keys, resolution, lo, hi)
            for i in range(0, len(keys), 200):
                chunk = list(keys[i:i + 200])
                where = (f"metric_key IN ({', '.join([mark] * len(chunk))}) AND "
                         f"resolution = {mark}"
                         + (f" AND unit = {mark}" if unit is not None else ""))
                args: tuple[Any, ...] = (*chunk, resolution)
                if unit is not None:
                    args += (unit,)
                found = await connection.exec_driver_sql(
                    f"SELECT metric_key, start, count, sum"
                    f"{', min, max' if extremes else ''} FROM cw_blocks WHERE {where} "
                    f"AND start >= {mark} AND start < {mark}",
                    (*args, slots.block_start(resolution, start), stop))
                for row in found.all():
                    dense[row[0]].add_block(row[1], row[2], row[3],
                                            row[4] if extremes else None,
                                            row[5] if extremes else None)
                found = await connection.exec_driver_sql(
                    f"SELECT metric_key, ts, count, sum, min, max FROM cw_points "
                    f"WHERE {where} AND ts >= {mark} AND ts < {mark} UNION ALL "
                    f"SELECT metric_key, ts, count, sum, min, max FROM cw_fresh "
                    f"WHERE {where.replace('resolution =', 'resolution <=')} "
                    f"AND ts >= {mark} AND ts < {mark}",
                    (*args, start, stop, *args, lo, hi))
                rows: dict[str, list[Any]] = {}
                for row in found.all():
                    rows.setdefault(row[0], []).append(row[1:])
                for key in chunk:
                    entries = logged.get(key)
                    if not entries:
                        continue
                    rows.setdefault(key, []).extend(
                        (ts, 1.0, value, value, value) for ts, item_unit, value in entries
                        if unit is None or item_unit == unit)
                for key, items in rows.items():
                    dense[key].add_rows(items)
        return {key: d.statistic(stat, period, end) for key, d in dense.items()}

    async def compact(self, now: float, lag: int = 120, batch: int = 20_000) -> int:
        """Move the buckets closed ``lag`` seconds ago into blocks, about ``batch``
        buckets (whole metrics) a transaction; the buckets moved. A bucket is deleted
        (``RETURNING`` it) in the transaction that adds it to its block, so concurrent
        compactors never move one twice; a bucket written later to the same slot is
        merged at read time."""
        await self.drain_log()
        moved = 0
        for table, roll in _DRAINED:
            for resolution in RETENTION:
                cutoff = int(now) - lag - resolution
                async with self.cloud.sessions() as session:
                    connection = await session.connection()
                    mark = "%s" if connection.dialect.name == "postgresql" else "?"
                    found = await connection.exec_driver_sql(
                        f"SELECT metric_key, count(*) FROM {table} WHERE resolution = "
                        f"{mark} AND ts < {mark} GROUP BY metric_key ORDER BY metric_key",
                        (resolution, cutoff))
                    counts: list[Any] = list(found.all())
                keys: list[str] = []
                size = 0
                for key, count in counts:
                    keys.append(key)
                    size += int(count)
                    if size >= batch:
                        moved += await self._compact(keys, resolution, cutoff, table,
                                                     now if roll else None)
                        keys, size = [], 0
                if keys:
                    moved += await self._compact(keys, resolution, cutoff, table,
                                                 now if roll else None)
        return moved

    async def drain_log(self) -> int:
        """Move the ingest log (SQLite's usual PutMetricData calls, ``ingestlog``) into
        its ``cw_fresh`` rows, in one transaction, through the writer that appends it
        (``fastsql.FastPoints.drain``); the log rows moved. No writer, no log."""
        fast = self._fast() if self._fast is not None else None
        return await fast.drain() if fast is not None else 0

    async def _compact(self, keys: list[str], resolution: int, cutoff: int,
                       table: str = "cw_points", roll_at: float | None = None) -> int:
        """Move ``table``'s rows of ``keys`` at ``resolution`` closed before ``cutoff``
        into their blocks; with ``roll_at`` (the fresh rows) also merged into the
        ``cw_points`` rows of every coarser resolution still retained at that time (the
        roll-up, in the transaction that deletes them: each row rolled up once)."""
        async with self.cloud.sessions() as session, session.begin():
            connection = await session.connection()
            found = await connection.exec_driver_sql(
                f"DELETE FROM {table} WHERE metric_key IN "
                f"({', '.join([_mark(connection)] * len(keys))}) AND resolution = "
                f"{_mark(connection)} AND ts < {_mark(connection)} RETURNING metric_key, "
                f"ts, unit, count, sum, min, max, vals, raw", (*keys, resolution, cutoff))
            rows: list[Any] = list(found.all())
            if not rows:
                return 0
            own = rows if roll_at is None else \
                [r for r in rows if roll_at - r[1] <= RETENTION[resolution]]
            if own:
                await self._into_blocks(connection, keys, resolution, own)
            if roll_at is not None:
                rolled = roll_rows(rows, resolution, roll_at)
                if rolled:
                    await connection.exec_driver_sql(
                        ROLLED[connection.dialect.name], rolled)  # type: ignore[arg-type]
        return len(rows)

    async def _into_blocks(self, connection: Any, keys: list[str], resolution: int,
                           rows: list[Any]) -> None:
        """Merge buckets (metric key, start, unit, count, sum, min, max, vals, raw) of
        ``resolution`` into their blocks, within the caller's transaction."""
        from cloudctl.services.cloudwatch import blocks

        pg = connection.dialect.name == "postgresql"
        mark = _mark(connection)
        marks = ", ".join([mark] * len(keys))
        wanted = sorted({(r[0], slots.block_start(resolution, r[1]), r[2])
                         for r in rows})
        empty = blocks.Block().columns()
        await connection.exec_driver_sql(
            f"INSERT INTO cw_blocks (metric_key, resolution, start, unit, count, sum, "
            f"min, max, raw, vals) VALUES ({', '.join([mark] * 10)}) "
            f"ON CONFLICT (metric_key, resolution, start, unit) DO NOTHING",
            [(k, resolution, s, u, *empty) for k, s, u in wanted])  # type: ignore[arg-type]
        starts = sorted({s for _, s, _ in wanted})
        found = await connection.exec_driver_sql(
            f"SELECT metric_key, start, unit, count, sum, min, max, raw, vals "
            f"FROM cw_blocks WHERE metric_key IN ({marks}) AND resolution = {mark} "
            f"AND start IN ({', '.join([mark] * len(starts))})"
            + (" ORDER BY metric_key, start, unit FOR UPDATE" if pg else ""),
            (*keys, resolution, *starts))
        stored: list[Any] = list(found.all())
        held = {(r[0], r[1], r[2]): blocks.Block.of_row(r[3:]) for r in stored}
        width = slots.span(resolution)
        for key, ts, unit, count, total, low, high, vals, raw in rows:
            start = ts // width * width
            held[(key, start, unit)].add((ts - start) // resolution, count, total, low,
                                         high, vals if raw else "", bool(raw))
        await connection.exec_driver_sql(
            f"UPDATE cw_blocks SET count = {mark}, sum = {mark}, min = {mark}, "
            f"max = {mark}, raw = {mark}, vals = {mark} WHERE metric_key = {mark} AND "
            f"resolution = {mark} AND start = {mark} AND unit = {mark}",
            [(*held[w].columns(), w[0], resolution, w[1], w[2])  # type: ignore[misc]
             for w in wanted])

    async def expire(self, now: float) -> int:
        # the fresh rows are rolled up before any resolution of them can expire
        await self.compact(now)
        removed = 0
        async with self.cloud.sessions() as session, session.begin():
            cond = or_(*[and_(CwPoint.resolution == res, CwPoint.ts < int(now - keep))
                         for res, keep in RETENTION.items()])
            result = await session.execute(delete(CwPoint).where(cond))
            removed = int(getattr(result, "rowcount", 0) or 0)
            # a block goes once its last slot is past the retention; the slots past it
            # of the block holding the cutoff are emptied
            cond = or_(*[and_(CwBlock.resolution == res,
                              CwBlock.start < int(now - keep) - slots.span(res) + res)
                         for res, keep in RETENTION.items()])
            await session.execute(delete(CwBlock).where(cond))
            connection = await session.connection()
            pg = connection.dialect.name == "postgresql"
            mark = "%s" if pg else "?"
            for res, keep in RETENTION.items():
                cutoff = int(now - keep)
                found = await connection.exec_driver_sql(
                    f"SELECT metric_key, start, unit, count, sum, min, max, raw, vals "
                    f"FROM cw_blocks WHERE resolution = {mark} AND start < {mark} AND "
                    f"start > {mark}"  # locked in the order compaction locks them
                    + (" ORDER BY metric_key, start, unit FOR UPDATE" if pg else ""),
                    (res, cutoff, cutoff - slots.span(res)))
                held: list[Any] = list(found.all())
                changes = []
                for row in held:
                    from cloudctl.services.cloudwatch import blocks

                    block = blocks.Block.of_row(row[3:])
                    if block.clear_before((cutoff - row[1] + res - 1) // res):
                        changes.append((*block.columns(), row[0], res, row[1], row[2]))
                if changes:
                    await connection.exec_driver_sql(
                        f"UPDATE cw_blocks SET count = {mark}, sum = {mark}, min = {mark}, "
                        f"max = {mark}, raw = {mark}, vals = {mark} WHERE metric_key = "
                        f"{mark} AND resolution = {mark} AND start = {mark} AND "
                        f"unit = {mark}", changes)
        return removed

    async def close(self) -> None:
        return None


def roll_rows(rows: Sequence[Any], resolution: int, now: float) -> list[tuple[Any, ...]]:
    """The roll-up of finest rows (metric key, ts, unit, count, sum, min, max, vals, raw)
    of ``resolution``: one ``cw_points`` upsert row per bucket of every coarser
    resolution retained at ``now`` (sorted: one lock order), the rows' raw value texts
    concatenated as the upsert concatenates them."""
    merged: dict[tuple[str, int, int, str], list[Any]] = {}
    for key, ts, unit, count, total, low, high, vals, raw in rows:
        for coarse in RESOLUTIONS:
            if coarse <= resolution or now - ts > RETENTION[coarse]:
                continue
            slot = (key, coarse, ts // coarse * coarse, unit)
            known = merged.get(slot)
            if known is None:
                merged[slot] = [count, total, low, high, vals if raw else "", bool(raw)]
                continue
            known[0] += count
            known[1] += total
            known[2] = min(known[2], low)
            known[3] = max(known[3], high)
            known[5] = known[5] and bool(raw)
            known[4] = known[4] + vals if known[5] else ""
    return [(*slot, *merged[slot]) for slot in sorted(merged)]


def _mark(connection: Any) -> str:
    """The driver's placeholder."""
    return "%s" if connection.dialect.name == "postgresql" else "?"


async def _logged(connection: Any, keys: Sequence[str], resolution: int, lo: int,
                  hi: int) -> dict[str, list[ingestlog.Entry]]:
    """The ingest log's data of ``keys`` (SQLite only) whose parts start in [lo, hi),
    read in the caller's snapshot: once a query, for all its keys."""
    if resolution < 60 or connection.dialect.name != "sqlite":
        return {}
    found = await connection.exec_driver_sql(ingestlog.READ)
    texts = [r[0] for r in found.all()]
    return ingestlog.entries(texts, keys, resolution, lo, hi) if texts else {}


def _covering(start: int, end: int, resolution: int) -> tuple[int, int]:
    """The range of finer timestamps whose ``resolution`` bucket starts in [start, end)."""
    return -(-start // resolution) * resolution, -(-end // resolution) * resolution


def block_buckets(row: Any, resolution: int, start: int, end: int,
                  values: bool) -> list[Bucket]:
    """The buckets with samples of a stored block (metric key, start, unit, count, sum,
    min, max, raw[, vals]) from ``start`` to before ``end``."""
    import numpy as np

    from cloudctl.services.cloudwatch import blocks

    key, first, unit = row[0], int(row[1]), row[2]
    count = blocks.floats(row[3])
    lo = max(0, (start - first + resolution - 1) // resolution)
    hi = min(slots.SLOTS, (end - first + resolution - 1) // resolution)
    if lo >= hi:
        return []
    total, low, high = blocks.floats(row[4]), blocks.floats(row[5]), blocks.floats(row[6])
    raw = bytes(row[7])
    texts: dict[str, str] = json.loads(row[8] or "{}") if values else {}
    out = []
    for slot in (lo + np.flatnonzero(count[lo:hi] > 0)).tolist():
        kept = bool(raw[slot])
        out.append(Bucket(key, resolution, first + slot * resolution, unit,
                          float(count[slot]), float(total[slot]), float(low[slot]),
                          float(high[slot]),
                          decode_values(texts.get(str(slot), "")) if values and kept else {},
                          kept))
    return out


# loop turns a flush waits before it takes its calls: a request the loop has read reaches
# its handler two turns later (aiohttp wakes the connection's task, which starts the
# handler's), so the calls of requests that arrived while the last flush ran join this
# one instead of waiting for its commit and making another (the bench's 8 connections:
# 3.8 -> 5.3 calls a commit); when nothing else is ready the turns take microseconds
FLUSH_TURNS = 2


class StoreHolder:
    """The process's metric store, as ``cloudwatch.metric_store`` names it, and its
    group commit: concurrent PutMetricData calls of this process are written together
    (their buckets merged, one transaction), each call answered after the transaction
    that holds its data committed (nothing acknowledged is lost to a crash)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.embedded = EmbeddedStore(cloud, self.fast)
        self._cassandra: MetricStore | None = None
        self._lock = asyncio.Lock()
        # metric key -> when its catalog row was last refreshed (ListMetrics)
        self.seen: dict[str, float] = {}
        # (catalog rows, the call's buckets or its ``point_rows``, whether rows, answer)
        self._pending: list[tuple[list[dict[str, Any]], list[Any], bool,
                                  asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._fast: fastsql.FastPoints | Literal[False] | None = None
        self._draining: asyncio.TimerHandle | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self.flushes = 0

    async def ingest(self, catalog: list[dict[str, Any]], buckets: list[Bucket]) -> None:
        """Write catalog rows and buckets with whatever else is waiting; returns once
        they are committed."""
        await self._wait(catalog, buckets, False)

    async def ingest_rows(self, catalog: list[dict[str, Any]],
                          entries: list[ingestlog.Logged]) -> None:
        """``ingest`` of single 60-second values given as ingest log entries (``ingest.
        fresh_entries``: metric key, part start, unit, value; one a datum), for a store
        that ``takes_rows``."""
        await self._wait(catalog, entries, True)

    async def _wait(self, catalog: list[dict[str, Any]], payload: list[Any],
                    as_rows: bool) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((catalog, payload, as_rows, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        await done

    def takes_rows(self) -> bool:
        """Whether ingest may be given rows (the embedded store on file-backed SQLite:
        one writer, no lock order to keep across calls)."""
        return self.kind != "cassandra" and self.fast() is not None

    async def _flush_all(self) -> None:
        for _ in range(FLUSH_TURNS):  # calls already received join this flush
            await asyncio.sleep(0)
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._flush(batch)
            except Exception as exc:
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for *_, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _flush(self, batch: list[tuple[list[dict[str, Any]], list[Any], bool,
                                             asyncio.Future[None]]]) -> None:
        """Write the catalog rows and buckets of the calls of ``batch`` (each call's
        buckets merged and sorted by ``series.roll_up``, or its rows) in one
        transaction."""
        from cloudctl.services.cloudwatch.models import CwMetric

        self.flushes += 1
        rows = {row["key"]: row for catalog, *_ in batch for row in catalog}
        store = await self.store()
        fast = self.fast() if store is self.embedded else None
        if fast is not None:
            # one writer: the calls' rows need neither merging nor one global order (the
            # upsert merges a bucket repeated by two calls in turn); the usual calls'
            # rows are appended to the ingest log as one row, drained soon after
            points: list[tuple[Any, ...]] = []
            usual: list[tuple[Any, ...]] = []
            for _, payload, as_rows, _ in batch:
                if as_rows:
                    usual += payload
                else:
                    points += point_rows(payload)
            await fast.write([fastsql.catalog_row(rows[k]) for k in sorted(rows)], points,
                             ingestlog.pack_entries(usual) if usual else None)
            if usual:
                self._drain_soon(fast)
            return
        # rows given while the store changed (``cloudwatch.metric_store`` set since
        # they were made): the finest buckets, and for Cassandra their roll-up too
        calls = [payload if not as_rows else
                 [rows_bucket(ingestlog.upsert_row(e)) for e in payload]
                 if store is self.embedded else
                 coarsen((rows_bucket(ingestlog.upsert_row(e)) for e in payload), time.time())
                 for _, payload, as_rows, _ in batch]
        buckets = calls[0] if len(calls) == 1 and not batch[0][2] else \
            merge_buckets(b for buckets in calls for b in buckets)
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

    def _drain_soon(self, fast: fastsql.FastPoints) -> None:
        """Drain the ingest log ``ingestlog.DRAIN_AFTER`` seconds from now, unless a
        drain is already due."""
        if self._draining is not None:
            return
        loop = asyncio.get_running_loop()
        self._draining = loop.call_later(ingestlog.DRAIN_AFTER, self._start_drain, fast)

    def _start_drain(self, fast: fastsql.FastPoints) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain(fast))

    async def _drain(self, fast: fastsql.FastPoints) -> None:
        self._draining = None
        try:
            await fast.drain()
        except Exception:  # the log stays readable; compaction or the next drain moves it
            self._drain_soon(fast)

    def fast(self) -> fastsql.FastPoints | None:
        """The plain ``sqlite3`` writer (file-backed SQLite only), made on first use."""
        if self._fast is None:
            engine = self.cloud.engine
            self._fast = fastsql.for_engine(engine.url, gate_for(engine),
                                            UPSERT["sqlite"]) or False
        return self._fast or None

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
        return now - self.seen.get(key, 0.0) > CATALOG_REFRESH

    async def close(self) -> None:
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
        if self._drain_task is not None and not self._drain_task.done():
            await asyncio.wait([self._drain_task])
        if self._fast:
            self._fast.close()
        if self._cassandra is not None:
            await self._cassandra.close()


STORE = RuntimeKey[StoreHolder]("cloudwatch.store")
