"""EBS volumes on instances through boto3 on the all-in-one fake node (SQLite and
PostgreSQL): AttachVolume/DetachVolume with their errors and states, the
attachments in DescribeVolumes and DescribeInstances, EBS-backed launches (root
volume from the image's snapshot), Stop/Start, CreateImage and DeleteOnTermination."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.support import LiveCloud, new_cloud, run_cloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _zone(ec2: Any) -> str:
    return str(ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"])


def _volume(ec2: Any, volume_id: str) -> dict[str, Any]:
    out: dict[str, Any] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return out


def _new_volume(ec2: Any, zone: str, size: int = 1) -> str:
    vid = str(ec2.create_volume(AvailabilityZone=zone, Size=size)["VolumeId"])
    wait_for(lambda: _volume(ec2, vid)["State"] == "available")
    return vid


def _running(cloud: LiveCloud, images: dict[str, str], **kwargs: Any) -> str:
    ec2 = cloud.client("ec2")
    iid = str(ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                                InstanceType="t1.micro", **kwargs)["Instances"][0]["InstanceId"])
    wait_for(lambda: states(cloud, [iid])[iid] == "running")
    return iid


def _mappings(ec2: Any, iid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = ec2.describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["BlockDeviceMappings"]
    return out


def test_attach_detach_states_and_errors(cloud: LiveCloud, tmp_path: Path) -> None:
    ec2 = cloud.client("ec2")
    zone = _zone(ec2)
    images = register_image_set(cloud, tmp_path / "att")
    iid = _running(cloud, images)
    vid = _new_volume(ec2, zone)

    for bad in ("/dev/sda", "/dev/sde", "/dev/vda", "sdf", "/dev/hdf"):
        with pytest.raises(ClientError) as exc:
            ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device=bad)
        assert _code(exc) == "InvalidParameterValue", bad
    with pytest.raises(ClientError) as exc:
        ec2.attach_volume(VolumeId=vid, InstanceId="i-0123456789abcdef0", Device="/dev/sdf")
    assert _code(exc) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.attach_volume(VolumeId="vol-0123456789abcdef0", InstanceId=iid, Device="/dev/sdf")
    assert _code(exc) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.detach_volume(VolumeId=vid)
    assert _code(exc) == "IncorrectState"

    out = ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    assert out["State"] == "attaching" and out["Device"] == "/dev/sdf"
    wait_for(lambda: _volume(ec2, vid)["Attachments"][0]["State"] == "attached")
    vol = _volume(ec2, vid)
    assert vol["State"] == "in-use" and vol["Attachments"][0]["InstanceId"] == iid
    bdm = _mappings(ec2, iid)
    assert [(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["Status"]) for m in bdm] == [
        ("/dev/sdf", vid, "attached")]

    with pytest.raises(ClientError) as exc:  # attached already
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdg")
    assert _code(exc) == "VolumeInUse"
    other = _new_volume(ec2, zone)
    with pytest.raises(ClientError) as exc:  # same guest device (vdf) under another name
        ec2.attach_volume(VolumeId=other, InstanceId=iid, Device="/dev/xvdf")
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.delete_volume(VolumeId=vid)
    assert _code(exc) == "VolumeInUse"
    with pytest.raises(ClientError) as exc:
        ec2.detach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdg")
    assert _code(exc) == "InvalidAttachment.NotFound"
    ec2.attach_volume(VolumeId=other, InstanceId=iid, Device="/dev/vdc")
    wait_for(lambda: _volume(ec2, other)["Attachments"][0]["State"] == "attached")

    out = ec2.detach_volume(VolumeId=vid, InstanceId=iid)
    assert out["State"] == "detaching"
    wait_for(lambda: _volume(ec2, vid)["State"] == "available")
    assert _volume(ec2, vid)["Attachments"] == []
    assert [m["Ebs"]["VolumeId"] for m in _mappings(ec2, iid)] == [other]
    ec2.detach_volume(VolumeId=other, Force=True)
    wait_for(lambda: _volume(ec2, other)["State"] == "available")

    # a stopped-state instance that never existed on a node: terminated ones are NotFound
    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(lambda: states(cloud, [iid])[iid] == "terminated")
    with pytest.raises(ClientError) as exc:
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    assert _code(exc) == "InvalidInstanceID.NotFound"
    for v in (vid, other):
        ec2.delete_volume(VolumeId=v)


@pytest.fixture(scope="module")
def own_cloud() -> Iterator[LiveCloud]:
    """A cloud of the module's own (SQLite, zones eucalyptus-1a and -1b, the fake node in
    the first): the kill -9 test restarts it on its data directory."""
    cloud = new_cloud()
    cloud.init("--zone", "eucalyptus-1a", "--zone", "eucalyptus-1b")
    yield from run_cloud(cloud)


def test_zone_mismatch(own_cloud: LiveCloud, tmp_path: Path) -> None:
    """A cloud with two zones: a volume in one cannot attach to an instance in the other."""
    cloud = own_cloud
    ec2 = cloud.client("ec2")
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    assert zones == ["eucalyptus-1a", "eucalyptus-1b"]
    images = register_image_set(cloud, tmp_path / "zm")
    iid = _running(cloud, images, Placement={"AvailabilityZone": zones[0]})
    vid = _new_volume(ec2, zones[1])
    with pytest.raises(ClientError) as exc:
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    assert _code(exc) == "InvalidVolume.ZoneMismatch"


def _root_snapshot(ec2: Any, zone: str) -> str:
    vid = _new_volume(ec2, zone)
    snap = str(ec2.create_snapshot(VolumeId=vid)["SnapshotId"])
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
             == "completed")
    ec2.delete_volume(VolumeId=vid)
    return snap


def test_ebs_backed_lifecycle(cloud: LiveCloud, tmp_path: Path) -> None:
    ec2 = cloud.client("ec2")
    zone = _zone(ec2)
    base = register_image_set(cloud, tmp_path / "ebs")
    snap = _root_snapshot(ec2, zone)
    emi = ec2.register_image(
        Name=f"ebs-{tmp_path.name}", RootDeviceName="/dev/sda1", KernelId=base["eki"],
        RamdiskId=base["eri"],
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}])["ImageId"]
    iid = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1,
                            InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    wait_for(lambda: states(cloud, [iid])[iid] == "running")
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["RootDeviceType"] == "ebs"
    [root] = inst["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/sda1" and root["Ebs"]["Status"] == "attached"
    assert root["Ebs"]["DeleteOnTermination"] is True
    root_id = root["Ebs"]["VolumeId"]
    vol = _volume(ec2, root_id)
    assert vol["State"] == "in-use" and vol["SnapshotId"] == snap

    with pytest.raises(ClientError) as exc:  # the root of a running instance
        ec2.detach_volume(VolumeId=root_id)
    assert _code(exc) == "IncorrectState"

    ec2.stop_instances(InstanceIds=[iid])
    wait_for(lambda: states(cloud, [iid])[iid] == "stopped")
    assert _volume(ec2, root_id)["State"] == "in-use"  # the volume stays
    data = _new_volume(ec2, zone)
    ec2.attach_volume(VolumeId=data, InstanceId=iid, Device="/dev/sdf")  # while stopped
    wait_for(lambda: _volume(ec2, data)["Attachments"][0]["State"] == "attached")

    new_emi = ec2.create_image(InstanceId=iid, Name=f"from-{iid}")["ImageId"]
    img = ec2.describe_images(ImageIds=[new_emi])["Images"][0]
    assert img["RootDeviceType"] == "ebs" and img["KernelId"] == base["eki"]
    new_snap = img["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[new_snap])["Snapshots"][0]["State"]
             == "completed")

    ec2.start_instances(InstanceIds=[iid])
    wait_for(lambda: states(cloud, [iid])[iid] == "running")
    assert {m["Ebs"]["VolumeId"] for m in _mappings(ec2, iid)} == {root_id, data}

    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(lambda: states(cloud, [iid])[iid] == "terminated")

    def root_gone() -> bool:
        try:
            _volume(ec2, root_id)
        except ClientError as exc:
            return bool(exc.response["Error"]["Code"] == "InvalidVolume.NotFound")
        return False

    wait_for(root_gone)
    wait_for(lambda: _volume(ec2, data)["State"] == "available")  # not DeleteOnTermination

    # the new image launches too, keeping its root when asked to
    iid2 = ec2.run_instances(
        ImageId=new_emi, MinCount=1, MaxCount=1, InstanceType="t1.micro",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                              "Ebs": {"DeleteOnTermination": False}}])["Instances"][0][
        "InstanceId"]
    wait_for(lambda: states(cloud, [iid2])[iid2] == "running")
    [root2] = _mappings(ec2, iid2)
    assert root2["Ebs"]["DeleteOnTermination"] is False
    ec2.terminate_instances(InstanceIds=[iid2])
    wait_for(lambda: states(cloud, [iid2])[iid2] == "terminated")
    wait_for(lambda: _volume(ec2, root2["Ebs"]["VolumeId"])["State"] == "available")
    for v in (data, root2["Ebs"]["VolumeId"]):
        ec2.delete_volume(VolumeId=v)


def test_ebs_launch_with_missing_snapshot_fails(cloud: LiveCloud, tmp_path: Path) -> None:
    ec2 = cloud.client("ec2")
    base = register_image_set(cloud, tmp_path / "miss")
    with pytest.raises(ClientError) as exc:
        ec2.register_image(Name=f"bad-{tmp_path.name}", RootDeviceName="/dev/sda1",
                           KernelId=base["eki"], BlockDeviceMappings=[
                               {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId":
                                                                  "snap-0123456789abcdef0"}}])
    assert _code(exc) == "InvalidBlockDeviceMapping"
    with pytest.raises(ClientError) as exc:  # as AWS: the snapshot is checked at once
        ec2.register_image(
            Name=f"gone-{tmp_path.name}", RootDeviceName="/dev/sda1", KernelId=base["eki"],
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                                  "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}])
    assert _code(exc) == "InvalidSnapshot.NotFound"


def test_attach_converges_after_kill_9(own_cloud: LiveCloud, tmp_path: Path) -> None:
    """kill -9 right after AttachVolume/DetachVolume: the restarted controller finishes."""
    cloud = own_cloud
    ec2 = cloud.client("ec2")
    images = register_image_set(cloud, tmp_path / "k9")
    zone = _zone(ec2)
    iid = _running(cloud, images, Placement={"AvailabilityZone": zone})
    vid = _new_volume(ec2, zone)
    ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdg")
    cloud.stop(signal.SIGKILL)
    cloud.start()
    ec2 = cloud.client("ec2")
    wait_for(lambda: _volume(ec2, vid)["Attachments"][0]["State"] == "attached")
    wait_for(lambda: states(cloud, [iid])[iid] == "running")
    ec2.detach_volume(VolumeId=vid)
    cloud.stop(signal.SIGKILL)
    cloud.start()
    ec2 = cloud.client("ec2")
    wait_for(lambda: _volume(ec2, vid)["State"] == "available")
    assert _mappings(ec2, iid) == []
