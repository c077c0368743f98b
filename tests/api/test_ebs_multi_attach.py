"""EBS Multi-Attach (io1/io2) through boto3 on the all-in-one fake node: the AWS errors,
one volume attached to two running instances (DescribeVolumes and DescribeInstances show
each attachment), detaching one at a time, DeleteVolume refused until the last is gone,
termination of one instance leaving the other attachment in place, a volume restored
from a snapshot shared (flattened to raw on the file backend), CreateSnapshots of an
instance including its Multi-Attach volume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.api.test_compute_volumes import _mappings, _new_volume, _running, _volume, _zone
from tests.support import LiveCloud


def _err(fn: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as exc:
        fn(**kwargs)
    return str(exc.value.response["Error"]["Code"])


def _multi_volume(ec2: Any, zone: str, kind: str = "io2") -> str:
    vid = str(ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType=kind, Iops=100,
                                MultiAttachEnabled=True)["VolumeId"])
    wait_for(lambda: _volume(ec2, vid)["State"] == "available")
    return vid


def _attached(ec2: Any, vid: str) -> dict[str, str]:
    return {a["InstanceId"]: a["State"] for a in _volume(ec2, vid)["Attachments"]}


# 16 attachments recorded as the compute part records them (to instances that need not run)
_FILL = """
import asyncio, sys
from cloudctl.config import load_settings
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.ec2.ebs import attachments as ebs

class Cloud:
    def __init__(self):
        self.engine = create_engine(load_settings().database_url)
        self.sessions = session_factory(self.engine)

async def main(volume_id):
    cloud = Cloud()
    for n in range(16):
        await ebs.mark_attached(cloud, volume_id, f"i-{n:017x}", "/dev/sdf")
    await cloud.engine.dispose()

asyncio.run(main(sys.argv[1]))
"""


def test_create_and_modify_errors(sqlite_cloud: LiveCloud) -> None:
    ec2 = sqlite_cloud.client("ec2")
    zone = _zone(ec2)
    for kind, extra in (("gp2", {}), ("gp3", {}), ("st1", {})):
        size = 125 if kind == "st1" else 4
        assert _err(ec2.create_volume, AvailabilityZone=zone, Size=size, VolumeType=kind,
                    MultiAttachEnabled=True, **extra) == "InvalidParameterCombination", kind
    io1 = _multi_volume(ec2, zone, "io1")
    vol = _volume(ec2, io1)
    assert vol["MultiAttachEnabled"] is True and vol["VolumeType"] == "io1"
    ids = {v["VolumeId"] for v in ec2.describe_volumes(Filters=[
        {"Name": "multi-attach-enabled", "Values": ["true"]}])["Volumes"]}
    assert ids == {io1}
    # ModifyVolume turns Multi-Attach on for io2 only, and only while detached
    plain_io1 = str(ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="io1",
                                      Iops=100)["VolumeId"])
    io2 = str(ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="io2",
                                Iops=100)["VolumeId"])
    for vid in (plain_io1, io2):
        wait_for(lambda vid=vid: _volume(ec2, vid)["State"] == "available")
    assert _volume(ec2, io2)["MultiAttachEnabled"] is False
    assert _err(ec2.modify_volume, VolumeId=plain_io1,
                MultiAttachEnabled=True) == "InvalidParameterCombination"
    mod = ec2.modify_volume(VolumeId=io2, MultiAttachEnabled=True)["VolumeModification"]
    assert mod["TargetMultiAttachEnabled"] is True
    assert mod["OriginalMultiAttachEnabled"] is False
    assert _volume(ec2, io2)["MultiAttachEnabled"] is True
    assert _err(ec2.modify_volume, VolumeId=io2, VolumeType="gp3") == \
        "InvalidParameterCombination"  # a gp3 cannot stay Multi-Attach
    for vid in (io1, plain_io1, io2):
        ec2.delete_volume(VolumeId=vid)


def test_attach_to_two_instances_detach_and_terminate(sqlite_cloud: LiveCloud,
                                                      tmp_path: Path) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    zone = _zone(ec2)
    images = register_image_set(cloud, tmp_path / "ma")
    first, second = _running(cloud, images), _running(cloud, images)
    vid = _multi_volume(ec2, zone)

    out = ec2.attach_volume(VolumeId=vid, InstanceId=first, Device="/dev/sdf")
    assert out["State"] == "attaching" and out["InstanceId"] == first
    ec2.attach_volume(VolumeId=vid, InstanceId=second, Device="/dev/sdg")
    wait_for(lambda: _attached(ec2, vid) == {first: "attached", second: "attached"})
    vol = _volume(ec2, vid)
    assert vol["State"] == "in-use" and vol["MultiAttachEnabled"] is True
    assert {(a["InstanceId"], a["Device"]) for a in vol["Attachments"]} == {
        (first, "/dev/sdf"), (second, "/dev/sdg")}
    for iid, device in ((first, "/dev/sdf"), (second, "/dev/sdg")):
        assert [(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["Status"])
                for m in _mappings(ec2, iid)] == [(device, vid, "attached")]
    found = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id",
                                           "Values": [second]}])["Volumes"]
    assert [v["VolumeId"] for v in found] == [vid]

    # the errors: the same instance again, a plain volume in use, delete, detach
    assert _err(ec2.attach_volume, VolumeId=vid, InstanceId=first,
                Device="/dev/sdh") == "VolumeInUse"
    plain = _new_volume(ec2, zone)
    ec2.attach_volume(VolumeId=plain, InstanceId=first, Device="/dev/sdh")
    assert _err(ec2.attach_volume, VolumeId=plain, InstanceId=second,
                Device="/dev/sdh") == "VolumeInUse"
    assert _err(ec2.attach_volume, VolumeId=_multi_volume(ec2, zone), InstanceId=second,
                Device="/dev/xvdg") == "InvalidParameterValue"  # vdg is the shared one
    assert _err(ec2.delete_volume, VolumeId=vid) == "VolumeInUse"
    assert _err(ec2.detach_volume, VolumeId=vid) == "MissingParameter"
    assert _err(ec2.detach_volume, VolumeId=vid, InstanceId=second,
                Device="/dev/sdf") == "InvalidAttachment.NotFound"
    assert _err(ec2.modify_volume, VolumeId=vid, MultiAttachEnabled=False) == "IncorrectState"
    full = _multi_volume(ec2, zone)
    subprocess.run([sys.executable, "-c", _FILL, full], env=cloud.env(), check=True,
                   capture_output=True, timeout=60)
    assert len(_volume(ec2, full)["Attachments"]) == 16
    assert _err(ec2.attach_volume, VolumeId=full, InstanceId=second,
                Device="/dev/sdk") == "AttachmentLimitExceeded"

    out = ec2.detach_volume(VolumeId=vid, InstanceId=first)
    assert out["State"] == "detaching" and out["InstanceId"] == first
    wait_for(lambda: _attached(ec2, vid) == {second: "attached"})
    assert _volume(ec2, vid)["State"] == "in-use"
    assert [m["Ebs"]["VolumeId"] for m in _mappings(ec2, first)] == [plain]
    assert _err(ec2.detach_volume, VolumeId=vid, InstanceId=first) == \
        "InvalidAttachment.NotFound"
    ec2.detach_volume(VolumeId=vid, InstanceId=second)
    wait_for(lambda: _volume(ec2, vid)["State"] == "available")
    assert _volume(ec2, vid)["Attachments"] == [] and _mappings(ec2, second) == []
    ec2.delete_volume(VolumeId=vid)
    wait_for(lambda: not ec2.describe_volumes(Filters=[
        {"Name": "volume-id", "Values": [vid]}])["Volumes"])

    # restored from a snapshot, a volume is a qcow2 overlay on the file backend, which
    # QEMU will not share between guests: its first attachment flattens it to raw
    snap = ec2.create_snapshot(VolumeId=plain)["SnapshotId"]
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
             == "completed")
    restored = str(ec2.create_volume(AvailabilityZone=zone, SnapshotId=snap, Size=4,
                                     VolumeType="io2", Iops=100,
                                     MultiAttachEnabled=True)["VolumeId"])
    wait_for(lambda: _volume(ec2, restored)["State"] == "available")
    files = cloud.data_dir / "volumes" / "volumes"
    assert (files / f"{restored}.qcow2").exists()
    ec2.attach_volume(VolumeId=restored, InstanceId=first, Device="/dev/sdm")
    ec2.attach_volume(VolumeId=restored, InstanceId=second, Device="/dev/sdm")
    wait_for(lambda: _attached(ec2, restored) == {first: "attached", second: "attached"})
    assert (files / f"{restored}.raw").exists() and not (files / f"{restored}.qcow2").exists()
    for iid in (first, second):
        ec2.detach_volume(VolumeId=restored, InstanceId=iid)
    wait_for(lambda: _volume(ec2, restored)["State"] == "available")

    # termination of one instance (DeleteOnTermination false) keeps the other attachment
    shared = _multi_volume(ec2, zone)
    ec2.attach_volume(VolumeId=shared, InstanceId=first, Device="/dev/sdj")
    ec2.attach_volume(VolumeId=shared, InstanceId=second, Device="/dev/sdj")
    wait_for(lambda: _attached(ec2, shared) == {first: "attached", second: "attached"})
    ec2.terminate_instances(InstanceIds=[first])
    wait_for(lambda: states(cloud, [first])[first] == "terminated")
    wait_for(lambda: _attached(ec2, shared) == {second: "attached"})
    vol = _volume(ec2, shared)
    assert vol["State"] == "in-use"
    assert [m["Ebs"]["VolumeId"] for m in _mappings(ec2, second)] == [shared]
    snaps = ec2.create_snapshots(InstanceSpecification={"InstanceId": second})["Snapshots"]
    assert [s["VolumeId"] for s in snaps] == [shared]
    wait_for(lambda: _volume(ec2, plain)["State"] == "available")
