"""S3 lifecycle expiry and crash safety against live servers.

The crash test kills the server with SIGKILL in the middle of uploads, restarts it
on the same data directory and checks: every acknowledged object is there and
intact, nothing half-written is visible, and the reconcile loop removes the
orphan blobs the crash left at start-up.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud, new_cloud, run_cloud


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def _keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_lifecycle_expiry_removes_objects(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("life")
    s3.create_bucket(Bucket=name)
    for key in ("old/a", "old/b", "keep/c", "dated/d"):
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    upload = s3.create_multipart_upload(Bucket=name, Key="old/pending")["UploadId"]
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "days", "Status": "Enabled", "Filter": {"Prefix": "old/"},
         "Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        {"ID": "date", "Status": "Enabled", "Filter": {"Prefix": "dated/"},
         "Expiration": {"Date": datetime(2020, 1, 1, tzinfo=UTC)}},
    ]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert [r["ID"] for r in rules] == ["days", "date"]
    cloud.set_properties("objectstorage.reconcile_interval_sec=1")
    try:
        _wait(lambda: _keys(s3, name) == ["keep/c", "old/a", "old/b"])
        cloud.set_properties(f"objectstorage.lifecycle_clock_offset_sec={2 * 86400}")
        _wait(lambda: _keys(s3, name) == ["keep/c"])
        assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
        assert upload
    finally:
        cloud.reset_properties("objectstorage.lifecycle_clock_offset_sec",
                               "objectstorage.reconcile_interval_sec")


@pytest.fixture()
def crash_cloud() -> Iterator[LiveCloud]:
    yield from run_cloud(new_cloud())


def _blob_files(data_dir: Path) -> int:
    return sum(1 for p in (data_dir / "objects" / "blobs").rglob("*") if p.is_file())


def _tmp_files(data_dir: Path) -> int:
    tmp = data_dir / "objects" / "tmp"
    return sum(1 for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else 0


def test_kill_9_during_uploads(crash_cloud: LiveCloud) -> None:
    _kill_9_during_uploads(crash_cloud, lambda index: (1 << 20) + index * 4099)


@pytest.mark.parametrize("storage", ["inline", "always", "group"])
def test_kill_9_during_small_uploads(crash_cloud: LiveCloud, storage: str) -> None:
    """Small objects: inline in their row (the default: one raw SQLite commit), or, with
    inlining off, the one-call blob write (or the group committer) plus the row install.
    An acknowledged one survives kill -9 every way."""
    if storage != "inline":
        crash_cloud.set_properties(f"objectstorage.sync_mode={storage}",
                                   "objectstorage.inline_max_bytes=0")
        time.sleep(1.5)  # the server polls property changes
    _kill_9_during_uploads(crash_cloud, lambda index: 1024 + index % 7, threads=6, at_least=200,
                           blobs=storage != "inline")


def _kill_9_during_uploads(cloud: LiveCloud, size: Any, threads: int = 3,
                           at_least: int = 10, blobs: bool = True) -> None:
    config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10)
    s3 = cloud.client("s3", config=config)
    name = bucket_name("crash")
    s3.create_bucket(Bucket=name)
    attempted: dict[str, str] = {}
    acknowledged: dict[str, str] = {}
    stop = threading.Event()

    def writer(worker: int) -> None:
        client = cloud.client("s3", config=config)
        index = 0
        while not stop.is_set():
            key = f"w{worker}/{index}"
            data = os.urandom(size(index))
            attempted[key] = hashlib.md5(data).hexdigest()
            try:
                client.put_object(Bucket=name, Key=key, Body=data)
            except Exception:
                return
            acknowledged[key] = attempted[key]
            index += 1

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    _wait(lambda: len(acknowledged) >= at_least, 60)
    cloud.stop(signal.SIGKILL)
    stop.set()
    for thread in workers:
        thread.join(30)
    cloud.start()
    s3 = cloud.client("s3", config=config)
    visible = _keys(s3, name)
    assert set(acknowledged) <= set(visible)
    for key in visible:
        body = s3.get_object(Bucket=name, Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == attempted[key], key
    # orphans of the crash (blobs and temp files made before the restart) are collected
    # by the start-up sweep, not after the 24 h grace; inline objects never had a blob
    _wait(lambda: _blob_files(cloud.data_dir) == (len(visible) if blobs else 0), 15)
    _wait(lambda: _tmp_files(cloud.data_dir) == 0, 15)
    assert _keys(s3, name) == visible
