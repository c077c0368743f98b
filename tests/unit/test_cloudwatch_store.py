"""The embedded metric store against a real SQLite database: buckets merge on ingest
(counts and sums add, extremes kept, raw values only while every part has them) and the
retention sweep removes each resolution's buckets after AWS's retention (1 s: 3 hours,
1 min: 15 days, 5 min: 63 days, 1 h: 455 days) and nothing younger."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cloudctl.db.base import Base
from cloudctl.services.cloudwatch.models import CwPoint
from cloudctl.services.cloudwatch.series import RETENTION, Bucket
from cloudctl.services.cloudwatch.store import EmbeddedStore

NOW = 2_000_000_000


def _store(tmp_path: Path) -> tuple[EmbeddedStore, Any]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'cw.db'}")
    return EmbeddedStore(SimpleNamespace(sessions=async_sessionmaker(engine))), engine  # type: ignore[arg-type]


async def _setup(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[CwPoint.__table__])


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


def test_retention_sweep(tmp_path: Path) -> None:
    store, engine = _store(tmp_path)

    async def run() -> set[tuple[int, int]]:
        await _setup(engine)
        buckets = []
        for res, keep in RETENTION.items():
            for age in (keep - res, keep + res):  # just inside, just outside
                ts = (NOW - age) // res * res
                buckets.append(Bucket(f"k{res}", res, ts, "None", 1, 1, 1, 1, {1.0: 1}))
        await store.write(buckets)
        removed = await store.expire(NOW)
        assert removed == len(RETENTION)
        left = set()
        for res in RETENTION:
            left |= {(b.resolution, NOW - b.ts) for b in
                     await store.read([f"k{res}"], res, 0, NOW)}
        await engine.dispose()
        return left

    left = asyncio.run(run())
    assert {res for res, _ in left} == set(RETENTION)
    assert all(age <= RETENTION[res] for res, age in left)
