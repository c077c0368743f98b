"""On PostgreSQL a worker runs a bounded number of write requests; reads pass them by.

Against a one-worker cloud on PostgreSQL with ``bootstrap.webservices.pg_write_slots``
at 1: an S3 upload that stalls in its body holds the one write slot, so a CreateUser
sent after it waits, while GetCallerIdentity and GetObject are answered at once. The
stalled upload's slot is a lease (``admission.LEASE``): once it runs out the
CreateUser goes through, long before the body times out; the upload then completes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cloudctl.server.admission import LEASE
from tests.api.abort_helpers import signed_put_head
from tests.infra import postgres
from tests.support import LiveCloud, new_cloud, run_cloud

SIZE = 64 << 10


@pytest.fixture(scope="module")
def pg_one_worker(pg_server: postgres.PostgresServer) -> Iterator[LiveCloud]:
    yield from run_cloud(new_cloud(pg_server.create_database("admission")))


def test_writes_wait_for_a_slot_and_reads_do_not(pg_one_worker: LiveCloud) -> None:
    cloud = pg_one_worker
    cloud.set_properties("bootstrap.webservices.pg_write_slots=1")
    s3, iam, sts = cloud.client("s3"), cloud.client("iam"), cloud.client("sts")
    s3.create_bucket(Bucket="admission")
    s3.put_object(Bucket="admission", Key="read-me", Body=b"here")
    head = signed_put_head(cloud, "admission", "stalled", SIZE)
    created: list[float] = []

    def create_user() -> None:
        iam.create_user(UserName="waits-its-turn")
        created.append(time.monotonic())

    with socket.create_connection(("127.0.0.1", cloud.port), timeout=30) as upload:
        started = time.monotonic()
        upload.sendall(head + b"x" * 1024)  # the body stalls: its handler holds the slot
        time.sleep(0.2)
        writer = threading.Thread(target=create_user)
        writer.start()
        time.sleep(0.1)
        assert sts.get_caller_identity()["Account"] == cloud.account_id
        assert s3.get_object(Bucket="admission", Key="read-me")["Body"].read() == b"here"
        read_done = time.monotonic()
        writer.join(timeout=15)
        assert created, "the write never got a slot (the stalled upload's lease never ended)"
        # it waited for the lease of the upload admitted after ``started``; the reads
        # did not wait behind it
        assert created[0] - started >= LEASE, created[0] - started
        assert read_done < created[0]
        upload.sendall(b"x" * (SIZE - 1024))
        answer = upload.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert s3.head_object(Bucket="admission", Key="stalled")["ContentLength"] == SIZE
    cloud.reset_properties("bootstrap.webservices.pg_write_slots")
