"""Clients hanging up mid-upload: memory comes back, and each is one log line.

Raw sockets send the signed head of a 5 MiB PutObject and part of its body, then
reset the connection, sixteen at a time; the cloud is a fresh one-process server (its
RSS is the serving process's) started for this module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.abort_helpers import abort_uploads, rss_mib, signed_put_head
from tests.support import LiveCloud, new_cloud, run_cloud

BUCKET = "aborted-uploads"
SIZE = 5 << 20
ABORTS = 1000
SLACK_MIB = 50


@pytest.fixture(scope="module")
def fresh_cloud() -> Iterator[LiveCloud]:
    yield from run_cloud(new_cloud())


def _aborts_logged(cloud: LiveCloud) -> int:
    return cloud.log_path.read_text(errors="replace").count("aborted by the client")


def _wait_quiet(cloud: LiveCloud, quiet: float = 2.0, seconds: float = 30) -> None:
    """Until the server logged no abort for ``quiet`` seconds: it has worked through
    the bodies the aborted connections left in its buffers (their sockets are long
    closed by then)."""
    deadline = time.monotonic() + seconds
    count, since = _aborts_logged(cloud), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the server kept logging aborts"
        time.sleep(0.2)
        now = _aborts_logged(cloud)
        if now != count:
            count, since = now, time.monotonic()


def _settled_rss(pid: int, limit: float, seconds: float) -> float:
    """The RSS once at or under ``limit`` (polling up to ``seconds``), else the last."""
    deadline = time.monotonic() + seconds
    rss = rss_mib(pid)
    while rss > limit and time.monotonic() < deadline:
        time.sleep(0.5)
        rss = rss_mib(pid)
    return rss


def test_memory_returns_after_a_thousand_aborted_uploads(fresh_cloud: LiveCloud) -> None:
    cloud = fresh_cloud
    assert cloud.process is not None
    pid = cloud.process.pid
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    # the upload path warmed up at the test's concurrency: its buffers, code and the
    # database connections sixteen requests at once hold (a pool grown to its working
    # size is the baseline, not memory the aborts kept)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda index: s3.put_object(Bucket=BUCKET, Key=f"warm/{index}",
                                                  Body=b"w" * SIZE), range(32)))
    s3.close()  # its kept-alive connections would count as open below
    time.sleep(1)
    baseline = rss_mib(pid)
    head = signed_put_head(cloud, BUCKET, "big", SIZE)
    errors: list[BaseException] = []
    done = abort_uploads(cloud.port, head, ABORTS, (5 << 20) // 4, concurrency=16,
                         on_error=errors.append)
    assert done >= ABORTS * 0.95, errors[:3]
    _wait_quiet(cloud)
    rss = _settled_rss(pid, baseline + SLACK_MIB, 20)
    assert rss <= baseline + SLACK_MIB, f"RSS {rss:.0f} MiB after aborts, {baseline:.0f} before"
    # nor do they leave partial blobs behind
    tmp = cloud.data_dir / "objects" / "tmp"
    leftovers = [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []
    assert leftovers == []
    # the server is whole: the next upload of the same key works
    s3 = cloud.client("s3")
    s3.put_object(Bucket=BUCKET, Key="big", Body=b"x" * SIZE)
    assert s3.head_object(Bucket=BUCKET, Key="big")["ContentLength"] == SIZE


def test_client_hanging_up_mid_upload_is_one_log_line(fresh_cloud: LiveCloud) -> None:
    cloud = fresh_cloud
    s3 = cloud.client("s3")
    bucket = BUCKET + "-log"
    s3.create_bucket(Bucket=bucket)
    before = cloud.log_path.read_text(errors="replace")
    head = signed_put_head(cloud, bucket, "hung-up", SIZE)
    assert abort_uploads(cloud.port, head, 3, 1 << 20, concurrency=1, pause=0.5) == 3

    def new_lines() -> list[str]:
        return cloud.log_path.read_text(errors="replace")[len(before):].splitlines()

    deadline = time.monotonic() + 30  # the lines come at once; the slack is for a loaded host
    while sum("aborted by the client" in line for line in new_lines()) < 3 \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = new_lines()
    aborted = [line for line in lines if "aborted by the client" in line]
    assert len(aborted) == 3, lines
    assert all(" s3 PutObject " in line and "INFO" in line for line in aborted), aborted
    assert not [line for line in lines if "Traceback" in line or "ERROR" in line
                or "InternalFailure" in line], lines
    assert "hung-up" not in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get(
        "Contents", [])}
