"""AWS/S3 daily storage metrics: ``BucketSizeBytes`` per storage type and
``NumberOfObjects`` (``StorageType=AllStorageTypes``) of every bucket, once a day.

A controller on the reconcile base (leader only) whose keys are bucket names. A sync
publishes the bucket's usage (``cloudctl.services.s3.api.storage_usage``) through
``cloudctl.services.cloudwatch.api.publish``, stamped 00:00 UTC of the day as AWS
does, unless that day's datapoint exists already (asked of CloudWatch, so a restart
publishes nothing twice). The resync every ``objectstorage.storage_metrics_interval_sec``
finds the buckets not published yet today.

Must not: change buckets or objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.server.providers import Provider
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.api import storage_usage
from cloudctl.services.s3.models import S3Bucket

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.s3.metrics")

STORAGE_TYPES = {
    "STANDARD": "StandardStorage", "STANDARD_IA": "StandardIAStorage",
    "ONEZONE_IA": "OneZoneIAStorage", "REDUCED_REDUNDANCY": "ReducedRedundancyStorage",
    "GLACIER": "GlacierStorage", "DEEP_ARCHIVE": "DeepArchiveStorage",
    "INTELLIGENT_TIERING": "IntelligentTieringFAStorage",
    "GLACIER_IR": "GlacierInstantRetrievalStorage",
}


def day_of(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class StorageMetrics(Reconciler):
    """Keys: bucket names; ``published`` remembers the day each was published for."""

    name = "s3-storage-metrics"
    workers = 1
    base_backoff = 5.0
    max_backoff = 600.0

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.published: dict[str, datetime] = {}

    def interval(self) -> float:
        return float(self.cloud.properties.get(props.STORAGE_METRICS_INTERVAL))

    async def list_keys(self) -> Iterable[str]:
        async with self.cloud.sessions() as session:
            names = list((await session.execute(select(S3Bucket.name))).scalars())
        day = day_of(datetime.now(UTC))
        for gone in [b for b in self.published if b not in names or self.published[b] != day]:
            del self.published[gone]
        return [n for n in names if n not in self.published]

    async def sync(self, key: str) -> None:
        from cloudctl.services.cloudwatch import api as cloudwatch

        day = day_of(datetime.now(UTC))
        if self.published.get(key) == day:
            return
        usage = await storage_usage(self.cloud, [key])
        if not usage:
            return
        account, region = usage[0].account_id, usage[0].region
        count_dims = (("BucketName", key), ("StorageType", "AllStorageTypes"))
        known = await cloudwatch.statistics(self.cloud, account, region, "AWS/S3",
                                            "NumberOfObjects", count_dims, day,
                                            day + timedelta(days=1), 86400, ["SampleCount"])
        if not known:
            data = [cloudwatch.Datum(
                namespace="AWS/S3", name="BucketSizeBytes",
                dimensions=(("BucketName", key),
                            ("StorageType", STORAGE_TYPES.get(u.storage_class,
                                                              "StandardStorage"))),
                timestamp=day, value=float(u.size_bytes), unit="Bytes") for u in usage]
            data.append(cloudwatch.Datum(namespace="AWS/S3", name="NumberOfObjects",
                                         dimensions=count_dims, timestamp=day,
                                         value=float(sum(u.objects for u in usage)),
                                         unit="Count"))
            await cloudwatch.publish(self.cloud, account, region, data)
        self.published[key] = day


class StorageMetricsProvider(Provider):
    """Owns the storage metrics controller (leader only); serves no operation."""

    service = "s3"

    async def start(self) -> None:
        controller = StorageMetrics(self.cloud, leader=lambda: self.cloud.runs_controllers)

        async def wake(name: str, value: Any) -> None:
            controller.resync_now()

        self.cloud.properties.on_change(props.STORAGE_METRICS_INTERVAL.name, wake)
        self.cloud.spawn(controller.run(), "s3-storage-metrics")
