"""S3 inventory reports, written as AWS writes them: gzip CSV data files, a manifest and
its checksum under ``<prefix>/<source>/<id>/``, on the schedule, delivered only where
the destination permits (same account, or a policy for ``s3.amazonaws.com``)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.api.s3_helpers import bucket_name, second_account
from tests.support import LiveCloud

OPTIONAL = ["ETag", "Size", "ObjectLockMode", "IsMultipartUploaded", "StorageClass",
            "LastModifiedDate", "EncryptionStatus", "ObjectLockRetainUntilDate"]


@pytest.fixture()
def fast_inventory(cloud: LiveCloud) -> Iterator[None]:
    cloud.set_properties("objectstorage.inventory_interval_sec=2")
    try:
        yield
    finally:
        cloud.reset_properties("objectstorage.inventory_interval_sec")


def _config(config_id: str, target: str, versions: str = "Current",
            fields: list[str] | None = None) -> dict[str, Any]:
    return {"Id": config_id, "IsEnabled": True, "IncludedObjectVersions": versions,
            "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{target}",
                                                    "Format": "CSV", "Prefix": "inv"}},
            "Schedule": {"Frequency": "Daily"},
            "OptionalFields": fields if fields is not None else OPTIONAL}


def _wait(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.5)


def _manifests(s3: Any, target: str, base: str) -> list[str]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=target, Prefix=base).get(
        "Contents", [])]
    return sorted(k for k in keys if k.endswith("/manifest.json"))


def _report(s3: Any, target: str, manifest_key: str) -> tuple[dict[str, Any], list[list[str]]]:
    body = s3.get_object(Bucket=target, Key=manifest_key)["Body"].read()
    checksum_key = manifest_key.removesuffix("manifest.json") + "manifest.checksum"
    checksum = s3.get_object(Bucket=target, Key=checksum_key)["Body"].read().decode()
    assert checksum.strip() == hashlib.md5(body).hexdigest()
    manifest = json.loads(body)
    rows: list[list[str]] = []
    for entry in manifest["files"]:
        data = s3.get_object(Bucket=target, Key=entry["key"])["Body"].read()
        assert len(data) == entry["size"]
        assert hashlib.md5(data).hexdigest() == entry["MD5checksum"]
        rows += list(csv.reader(io.StringIO(gzip.decompress(data).decode())))
    return manifest, rows


def test_inventory_report_current_versions(cloud: LiveCloud, fast_inventory: None) -> None:
    s3 = cloud.client("s3")
    source, target = bucket_name("invsrc"), bucket_name("invdst")
    s3.create_bucket(Bucket=source, ObjectLockEnabledForBucket=True)
    s3.create_bucket(Bucket=target)
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    etag_a = s3.put_object(Bucket=source, Key="dir/a b+c.txt", Body=b"hello",
                           StorageClass="STANDARD_IA")["ETag"].strip('"')
    s3.put_object(Bucket=source, Key="dir/a b+c.txt", Body=b"hello again")  # a newer one
    s3.put_object(Bucket=source, Key="locked", Body=b"1234", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=until, ServerSideEncryption="AES256")
    s3.put_object(Bucket=source, Key="gone", Body=b"x")
    s3.delete_object(Bucket=source, Key="gone")
    s3.put_bucket_inventory_configuration(Bucket=source, Id="daily",
                                          InventoryConfiguration=_config("daily", target))
    base = f"inv/{source}/daily/"
    first = _wait(lambda: _manifests(s3, target, base))[0]
    manifest, rows = _report(s3, target, first)
    schema = ["Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass",
              "IsMultipartUploaded", "EncryptionStatus", "ObjectLockRetainUntilDate",
              "ObjectLockMode"]
    assert manifest["sourceBucket"] == source
    assert manifest["destinationBucket"] == f"arn:aws:s3:::{target}"
    assert manifest["version"] == "2016-11-30"
    assert manifest["fileFormat"] == "CSV"
    assert [f.strip() for f in manifest["fileSchema"].split(",")] == schema
    assert abs(int(manifest["creationTimestamp"]) / 1000 - time.time()) < 120
    assert first.startswith(base) and first.count("/") == 4
    assert all(f["key"].startswith(base + "data/") and f["key"].endswith(".csv.gz")
               for f in manifest["files"])
    by_key = {unquote_plus(r[1]): dict(zip(schema, r, strict=True)) for r in rows}
    assert sorted(by_key) == ["dir/a b+c.txt", "locked"]
    assert [unquote_plus(r[1]) for r in rows] == sorted(by_key)
    spaced = by_key["dir/a b+c.txt"]
    assert " " not in spaced["Key"] and spaced["Bucket"] == source
    head = s3.head_object(Bucket=source, Key="dir/a b+c.txt")
    assert spaced["Size"] == "11" and spaced["ETag"] == head["ETag"].strip('"') != etag_a
    assert spaced["StorageClass"] == "STANDARD"
    assert spaced["IsMultipartUploaded"] == "false"
    assert spaced["EncryptionStatus"] == "NOT-SSE"
    assert spaced["ObjectLockMode"] == "" and spaced["ObjectLockRetainUntilDate"] == ""
    assert datetime.strptime(spaced["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z").replace(
        microsecond=0) == head["LastModified"]
    locked = by_key["locked"]
    assert locked["ObjectLockMode"] == "COMPLIANCE"
    assert datetime.strptime(locked["ObjectLockRetainUntilDate"],
                             "%Y-%m-%dT%H:%M:%S.%f%z") == until
    assert locked["EncryptionStatus"] == "SSE-S3" and locked["Size"] == "4"
    # the schedule: a Daily report again once the (shortened) day has passed
    written = s3.head_object(Bucket=target, Key=first)["LastModified"]
    _wait(lambda: len(_manifests(s3, target, base)) > 1
          or s3.head_object(Bucket=target, Key=first)["LastModified"] > written, timeout=30)


def test_inventory_report_all_versions(cloud: LiveCloud, fast_inventory: None) -> None:
    s3 = cloud.client("s3")
    source = bucket_name("invall")
    s3.create_bucket(Bucket=source)
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=source, Key="k", Body=b"one")["VersionId"]
    new = s3.put_object(Bucket=source, Key="k", Body=b"two!")["VersionId"]
    marker = s3.delete_object(Bucket=source, Key="m")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=source, Key="multi")["UploadId"]
    part = s3.upload_part(Bucket=source, Key="multi", UploadId=upload, PartNumber=1,
                          Body=b"p" * 10)["ETag"]
    s3.complete_multipart_upload(Bucket=source, Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    config = _config("all", source, "All", ["Size", "IsMultipartUploaded"])
    config["Filter"] = {"Prefix": ""}
    del config["Destination"]["S3BucketDestination"]["Prefix"]
    s3.put_bucket_inventory_configuration(Bucket=source, Id="all",
                                          InventoryConfiguration=config)
    first = _wait(lambda: _manifests(s3, source, f"{source}/all/"))[0]
    manifest, rows = _report(s3, source, first)
    assert manifest["fileSchema"] == ("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, "
                                      "IsMultipartUploaded")
    mine = [r[1:] for r in rows if not r[1].startswith(source)]  # not the report itself
    assert mine == [["k", new, "true", "false", "4", "false"],
                    ["k", old, "false", "false", "3", "false"],
                    ["m", marker, "true", "true", "", ""],
                    ["multi", mine[3][1], "true", "false", "10", "true"]]


def test_inventory_needs_a_permitted_destination(cloud: LiveCloud,
                                                 fast_inventory: None) -> None:
    s3 = cloud.client("s3")
    key, secret, _ = second_account(cloud, bucket_name("invother"))
    other = cloud.client("s3", access_key=key, secret_key=secret)
    source, mine, theirs = bucket_name("invsrc"), bucket_name("invmine"), bucket_name("invtheirs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=mine)
    other.create_bucket(Bucket=theirs)
    s3.put_object(Bucket=source, Key="k", Body=b"x")
    s3.put_bucket_inventory_configuration(Bucket=source, Id="foreign",
                                          InventoryConfiguration=_config("foreign", theirs))
    s3.put_bucket_inventory_configuration(Bucket=source, Id="own",
                                          InventoryConfiguration=_config("own", mine))
    _wait(lambda: _manifests(s3, mine, f"inv/{source}/own/"))
    time.sleep(3)
    assert other.list_objects_v2(Bucket=theirs).get("KeyCount") == 0
    other.put_bucket_policy(Bucket=theirs, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{theirs}/*"}]}))
    found = _wait(lambda: _manifests(other, theirs, f"inv/{source}/foreign/"))
    _, rows = _report(other, theirs, found[0])
    assert [r[:2] for r in rows] == [[source, "k"]]
