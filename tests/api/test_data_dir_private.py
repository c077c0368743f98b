"""The data directory is the cloud's alone: nothing under it is group or world readable.

A fresh cloud starts over a data directory holding a file an older version left
0644; after it has stored an object, created a volume and run an instance (SQLite
database and WAL with inline objects and user data, volume files, root disks,
console logs...), every directory under the data directory is 0700 and every file
0600 (owner-executable at most).
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.api.test_ebs_flows import FAST
from tests.support import LiveCloud, new_cloud


@pytest.fixture
def fresh_cloud() -> Iterator[LiveCloud]:
    cloud = new_cloud()
    legacy = cloud.data_dir / "legacy" / "old.log"
    legacy.parent.mkdir()
    legacy.write_text("left by an older version")
    os.chmod(legacy.parent, 0o755)
    os.chmod(legacy, 0o644)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


def _exposed(root: Path) -> list[str]:
    out = []
    for path in (root, *root.rglob("*")):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            out.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(root)}")
    return out


def test_nothing_under_the_data_dir_is_readable_by_others(fresh_cloud: LiveCloud,
                                                          tmp_path: Path) -> None:
    cloud = fresh_cloud
    s3, ec2 = cloud.client("s3"), cloud.client("ec2")
    s3.create_bucket(Bucket="private-data")
    s3.put_object(Bucket="private-data", Key="small", Body=b"inline secret")
    s3.put_object(Bucket="private-data", Key="large", Body=os.urandom(3 * 1024 * 1024))
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    volume_id = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    ec2.create_snapshot(VolumeId=volume_id)
    image = register_image_set(cloud, tmp_path / f"imgs-{uuid.uuid4().hex[:6]}")
    iid = ec2.run_instances(ImageId=image["emi"], MinCount=1, MaxCount=1,
                            UserData="secret user data")["Instances"][0]["InstanceId"]
    wait_for(lambda: states(cloud, [iid])[iid] == "running", timeout=60)
    assert any(cloud.data_dir.rglob("*.db*"))  # the SQLite database and its WAL are there
    assert _exposed(cloud.data_dir) == []
