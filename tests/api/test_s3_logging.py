"""S3 server access logging: configuration checks, records delivered to the target
bucket in the AWS log format by the background flush."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from cloudctl.services.s3.access_log import DELIVERY_IDLE
from tests.api.s3_helpers import bucket_name, second_account
from tests.support import LiveCloud, new_cloud, run_cloud, wait_for

LINE = re.compile(r'^(?P<owner>\S+) (?P<bucket>\S+) \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                  r'(?P<ip>\S+) (?P<requester>\S+) (?P<id>\S+) (?P<op>\S+) (?P<key>\S+) '
                  r'"(?P<uri>[^"]*)" (?P<status>\d{3}) (?P<error>\S+) (?P<sent>\S+) '
                  r'(?P<size>\S+) \d+ \d+ "[^"]*" "[^"]*" \S+ \S+ (?P<sig>\S+) \S+ (?P<auth>\S+) '
                  r'\S+ \S+ \S+ \S+$')


def test_access_log_delivered_to_target(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    cloud.set_properties("objectstorage.access_log_flush_sec=1")
    s3 = cloud.client("s3")
    source, target = bucket_name("logsrc"), bucket_name("logdst")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": bucket_name("nothere"), "TargetPrefix": "logs/"}})
    assert exc.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "logs/"}})
    assert s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetPrefix"] == "logs/"
    s3.put_object(Bucket=source, Key="a b.txt", Body=b"12345")
    s3.get_object(Bucket=source, Key="a b.txt")["Body"].read()
    with pytest.raises(ClientError):
        s3.get_object(Bucket=source, Key="missing")

    def lines() -> list[str]:
        found = []
        for item in s3.list_objects_v2(Bucket=target, Prefix="logs/").get("Contents", []):
            body = s3.get_object(Bucket=target, Key=item["Key"])["Body"].read().decode()
            found += [line for line in body.splitlines() if line]
        return found if len(found) >= 3 else []

    records = [LINE.match(line) for line in wait_for(lines, 30, "access log delivery")]
    assert all(records), records
    by_op = {(m["op"], m["key"]): m for m in records if m is not None}
    get = by_op[("REST.GET.OBJECT", "a%20b.txt")]
    assert get["bucket"] == source and get["status"] == "200" and get["sent"] == "5"
    assert get["size"] == "5" and get["sig"] == "SigV4" and get["auth"] == "AuthHeader"
    assert get["uri"].startswith("GET /")
    assert by_op[("REST.PUT.OBJECT", "a%20b.txt")]["status"] == "200"
    missing = by_op[("REST.GET.OBJECT", "missing")]
    assert (missing["status"], missing["error"]) == ("404", "NoSuchKey")
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)


def test_logging_to_other_account_needs_permission(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    key, secret, _ = second_account(cloud, bucket_name("logacct"))
    other = cloud.client("s3", access_key=key, secret_key=secret)
    s3 = cloud.client("s3")
    source, target = bucket_name("logsrc2"), bucket_name("logdst2")
    s3.create_bucket(Bucket=source)
    other.create_bucket(Bucket=target)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": target, "TargetPrefix": ""}})
    assert exc.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
    other.put_bucket_policy(Bucket=target, Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
        '"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":'
        f'"arn:aws:s3:::{target}/*"}}]}}'))
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": ""}})


@pytest.fixture
def two_workers() -> Iterator[LiveCloud]:
    yield from run_cloud(new_cloud(), workers=2)


def test_records_of_any_worker_delivered_without_a_poll(two_workers: LiveCloud) -> None:
    """The deliverer waits for a recorder's word while its queue is empty (an idle cloud
    does not read it every few seconds): a request served by the worker that runs no
    controller is delivered within seconds too, not at the next ``DELIVERY_IDLE``. One
    request at a time, each on a new connection (either worker may take it), each
    delivered before the next."""
    cloud = two_workers
    cloud.set_properties("objectstorage.access_log_flush_sec=1")
    s3 = cloud.client("s3")
    source, target = bucket_name("logw"), bucket_name("logwdst")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "w/"}})

    def delivered() -> set[str]:
        found = set()
        for item in s3.list_objects_v2(Bucket=target, Prefix="w/").get("Contents", []):
            body = s3.get_object(Bucket=target, Key=item["Key"])["Body"].read().decode()
            found |= {m["key"] for m in map(LINE.match, body.splitlines())
                      if m is not None and m["op"] == "REST.PUT.OBJECT"}
        return found

    for i in range(4):  # each reaches the other worker with even odds
        time.sleep(1.5)  # the deliverer's last pass found nothing more: it waits
        started = time.monotonic()
        key = f"k{i}"
        cloud.client("s3").put_object(Bucket=source, Key=key, Body=b"x")
        wait_for(lambda key=key: key in delivered(), DELIVERY_IDLE - 15, f"{key} delivered")
        assert time.monotonic() - started < DELIVERY_IDLE / 4, i
