"""AWS/S3 daily storage metrics through boto3: BucketSizeBytes per storage type and
NumberOfObjects, stamped 00:00 UTC, published once a day per bucket.

The look for unpublished buckets runs every second here
(``objectstorage.storage_metrics_interval_sec``, an hour by default)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_compute_instances import wait_for
from tests.support import LiveCloud


def _daily(cw: Any, name: str, bucket: str, storage_type: str) -> list[dict[str, Any]]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    points: list[dict[str, Any]] = cw.get_metric_statistics(
        Namespace="AWS/S3", MetricName=name,
        Dimensions=[{"Name": "BucketName", "Value": bucket},
                    {"Name": "StorageType", "Value": storage_type}],
        StartTime=today - timedelta(days=1), EndTime=today + timedelta(days=1), Period=86400,
        Statistics=["Average", "SampleCount"])["Datapoints"]
    return points


def test_bucket_size_and_object_count_once_a_day(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    s3, cw = cloud.client("s3"), cloud.client("cloudwatch")
    bucket = f"metrics-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    for i, size in enumerate((100, 200, 300)):
        s3.put_object(Bucket=bucket, Key=f"std/{i}", Body=b"x" * size)
    s3.put_object(Bucket=bucket, Key="ia", Body=b"y" * 50, StorageClass="STANDARD_IA")
    cloud.set_properties("objectstorage.storage_metrics_interval_sec=1")
    try:
        wait_for(lambda: _daily(cw, "NumberOfObjects", bucket, "AllStorageTypes"), 30)
        [count] = _daily(cw, "NumberOfObjects", bucket, "AllStorageTypes")
        assert count["Average"] == 4.0 and count["Unit"] == "Count"
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        assert count["Timestamp"] == today
        [standard] = _daily(cw, "BucketSizeBytes", bucket, "StandardStorage")
        assert standard["Average"] == 600.0 and standard["Unit"] == "Bytes"
        [ia] = _daily(cw, "BucketSizeBytes", bucket, "StandardIAStorage")
        assert ia["Average"] == 50.0
        metrics = cw.list_metrics(Namespace="AWS/S3", Dimensions=[
            {"Name": "BucketName", "Value": bucket}])["Metrics"]
        assert {m["MetricName"] for m in metrics} == {"BucketSizeBytes", "NumberOfObjects"}
        # one datapoint a day: more objects today change nothing until tomorrow
        s3.put_object(Bucket=bucket, Key="late", Body=b"z" * 10)
        time.sleep(3)
        [again] = _daily(cw, "NumberOfObjects", bucket, "AllStorageTypes")
        assert (again["Average"], again["SampleCount"]) == (4.0, 1.0)
    finally:
        cloud.reset_properties("objectstorage.storage_metrics_interval_sec")
