"""CloudWatch's public API: what other services may call to publish and read metrics
(no HTTP, no validation beyond what the store needs: the callers are the cloud).

- ``publish(cloud, account_id, region, data)``: store ``Datum``s (EC2, EBS, S3 metrics);
- ``list_metrics(cloud, account_id, region, namespace=..., name=..., dimensions=...)``;
- ``statistics(cloud, account_id, region, namespace, name, dimensions, start, end,
  period, stats, unit=None)``: datapoints as GetMetricStatistics gives them.

Acting as a principal (``cloudctl.server.internal.Caller``, authorised as the same API
request would be; CloudFormation's alarm type): ``put_metric_alarm``, ``alarm``,
``delete_alarm``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call
from cloudctl.services.cloudwatch.ingest import catalog_entry
from cloudctl.services.cloudwatch.models import CwMetric
from cloudctl.services.cloudwatch.series import (
    Datum,
    StatisticSet,
    canonical_dimensions,
    epoch,
    metric_key,
    metric_key_of,
    roll_up,
)
from cloudctl.services.cloudwatch.stats import align, choose_resolution, periods
from cloudctl.services.cloudwatch.store import STORE, StoreHolder

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = ["Caller", "Datum", "Metric", "StatisticSet", "alarm", "delete_alarm", "list_metrics",
           "publish", "put_metric_alarm", "statistics"]


@dataclass(frozen=True)
class Metric:
    """A metric as ListMetrics reports it."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    last_seen: datetime


def holder(cloud: Cloud) -> StoreHolder:
    return cloud.runtime.setdefault(STORE, lambda: StoreHolder(cloud))


async def publish(cloud: Cloud, account_id: str, region: str, data: Sequence[Datum]) -> None:
    """Store ``data`` for ``account_id`` in ``region`` (each resolution AWS keeps
    readable at once) and make the metrics known to ListMetrics."""
    if not data:
        return
    hold = holder(cloud)
    now = time.time()
    keyed: list[tuple[str, Datum]] = []
    catalog: dict[str, dict[str, Any]] = {}
    stamp = utcnow()
    for datum in data:
        dims = canonical_dimensions(datum.dimensions)
        key = metric_key_of(account_id, region, datum.namespace, datum.name, dims)
        keyed.append((key, datum))
        if key not in catalog and hold.stale(key, now):
            catalog[key] = catalog_entry(key, account_id, region, datum.namespace,
                                         datum.name, dims, stamp)
    # the embedded store is given the finest buckets only (its compaction rolls them up)
    await hold.ingest([catalog[k] for k in sorted(catalog)],
                      roll_up(keyed, now, coarse=hold.kind == "cassandra"))
    for key in catalog:
        hold.seen[key] = now


async def list_metrics(cloud: Cloud, account_id: str, region: str, *,
                       namespace: str | None = None, name: str | None = None,
                       dimensions: Sequence[tuple[str, str | None]] = (),
                       recently_active: bool = False) -> list[Metric]:
    """The account's metrics matching every filter given (a dimension filter without a
    value matches any value), ordered by namespace, name and dimensions."""
    query = select(CwMetric).where(CwMetric.account_id == account_id,
                                   CwMetric.region == region)
    if namespace is not None:
        query = query.where(CwMetric.namespace == namespace)
    if name is not None:
        query = query.where(CwMetric.name == name)
    if recently_active:
        query = query.where(CwMetric.last_seen >= datetime.now(UTC) - timedelta(hours=3))
    async with cloud.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    out = []
    for row in rows:
        dims = tuple((str(k), str(v)) for k, v in json.loads(row.dimensions))
        have = dict(dims)
        if all(k in have and (v is None or have[k] == v) for k, v in dimensions):
            out.append(Metric(row.namespace, row.name, dims, row.last_seen))
    out.sort(key=lambda m: (m.namespace, m.name, m.dimensions))
    return out


async def statistics(cloud: Cloud, account_id: str, region: str, namespace: str, name: str,
                     dimensions: Sequence[tuple[str, str]], start: datetime, end: datetime,
                     period: int, stats: Sequence[str],
                     unit: str | None = None) -> list[dict[str, Any]]:
    """Datapoints of one metric as GetMetricStatistics returns them (``stats``: standard
    names and ``pNN``), oldest first."""
    key = metric_key(account_id, region, namespace, name, dimensions)
    now = time.time()
    begin, finish = epoch(start), epoch(end)
    resolution = choose_resolution(period, begin, now)
    if resolution is None:
        return []
    first = align(begin, resolution)
    store = await holder(cloud).store()
    buckets = await store.read([key], resolution, first, int(finish) + 1,
                              values=any(s.startswith("p") for s in stats))
    out: list[dict[str, Any]] = []
    for (slot, slot_unit), agg in periods(buckets, first, finish, period, unit).items():
        point: dict[str, Any] = {"Timestamp": datetime.fromtimestamp(slot, UTC),
                                 "Unit": slot_unit}
        extended: dict[str, float] = {}
        for stat in stats:
            value = agg.statistic(stat)
            if value is None:
                continue
            if stat.startswith("p"):
                extended[stat] = value
            else:
                point[stat] = value
        if extended:
            point["ExtendedStatistics"] = extended
        out.append(point)
    return out


# -- as a principal --------------------------------------------------------------------------

async def put_metric_alarm(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    await call(cloud, caller, "cloudwatch", "PutMetricAlarm", params)


async def alarm(cloud: Cloud, caller: Caller, name: str) -> dict[str, Any] | None:
    """DescribeAlarms' metric alarm ``name``, None when there is none."""
    found = await call(cloud, caller, "cloudwatch", "DescribeAlarms", {"AlarmNames": [name]})
    items = found.get("MetricAlarms") or []
    return dict(items[0]) if items else None


async def delete_alarm(cloud: Cloud, caller: Caller, name: str) -> None:
    """DeleteAlarms of one name (one already gone is not an error, as on AWS)."""
    try:
        await call(cloud, caller, "cloudwatch", "DeleteAlarms", {"AlarmNames": [name]})
    except AwsError as error:
        if error.code != "ResourceNotFound":
            raise
