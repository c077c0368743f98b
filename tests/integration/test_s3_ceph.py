"""The S3 API on the Ceph RADOS blob backend: a representative subset of the API tests.

A live cloud with ``objectstorage.providerclient=ceph-rados`` pointing at the
suite's single-node Ceph; the same test functions as on the file backend.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from storagectl.objects import open_blob_store
from tests.api.test_s3_access import test_versioning_round_trip
from tests.api.test_s3_clients import test_aws_cli_flows
from tests.api.test_s3_objects import (
    s3,
    test_copy_and_delete_objects,
    test_multipart,
    test_put_get_head_metadata,
    test_ranges_and_conditions,
)
from tests.support import LiveCloud, new_cloud

pytestmark = pytest.mark.integration

__all__ = ["s3", "test_aws_cli_flows", "test_copy_and_delete_objects", "test_multipart",
           "test_put_get_head_metadata", "test_ranges_and_conditions",
           "test_versioning_round_trip"]


@pytest.fixture(scope="module")
def cloud(ceph_cluster: Any) -> Iterator[LiveCloud]:
    """A live cloud (SQLite) whose object data goes to RADOS."""
    live = new_cloud()
    live.start()
    try:
        config = ceph_cluster.rados_config()
        live.set_properties(f"objectstorage.ceph.pool={config['pool']}",
                            f"objectstorage.ceph.conffile={config['conffile']}",
                            f"objectstorage.ceph.client_name={config['client_name']}",
                            f"objectstorage.ceph.keyring={config['keyring']}")
        # every object a blob, however small: these tests are about the RADOS backend
        live.set_properties("objectstorage.providerclient=ceph-rados",
                            "objectstorage.inline_max_bytes=0")
        time.sleep(2)  # the property poller runs every second
        yield live
    finally:
        live.stop()
        shutil.rmtree(live.data_dir, ignore_errors=True)


def test_objects_are_in_rados(cloud: LiveCloud, ceph_cluster: Any) -> None:
    """Data really goes to RADOS: a new blob appears in the pool and nothing lands in
    the file backend's directory."""
    store = open_blob_store("ceph-rados", **ceph_cluster.rados_config())

    async def blob_ids() -> set[str]:
        return {blob_id async for blob_id in store.list_ids()}

    before = asyncio.run(blob_ids())
    client = cloud.client("s3")
    client.create_bucket(Bucket="rados-proof")
    client.put_object(Bucket="rados-proof", Key="k", Body=b"in ceph")
    assert client.get_object(Bucket="rados-proof", Key="k")["Body"].read() == b"in ceph"
    assert len(asyncio.run(blob_ids()) - before) == 1
    blobs = cloud.data_dir / "objects" / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
