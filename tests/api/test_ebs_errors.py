"""EBS error codes, pagination, idempotency, limits and attachments, through boto3."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.test_ebs_flows import FAST, code_of, new_volume, wait_gone, zone_of
from tests.support import LiveCloud


def _err(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ClientError) as err:
        fn(*args, **kwargs)  # type: ignore[operator]
    return code_of(err)


def test_create_volume_errors(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    zone = zone_of(cloud)
    assert _err(ec2.create_volume, AvailabilityZone="nowhere-1z", Size=1) == \
        "InvalidZone.NotFound"
    assert _err(ec2.create_volume, AvailabilityZone=zone) == "MissingParameter"
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=100000) == \
        "InvalidParameterValue"
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=1, VolumeType="floppy") == \
        "InvalidParameterValue"
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=10, VolumeType="io1") == \
        "MissingParameter"
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=1, VolumeType="gp2",
                Iops=300) == "InvalidParameterCombination"
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=1,
                SnapshotId="snap-0123456789abcdef0") == "InvalidSnapshot.NotFound"
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=1, DryRun=True) == \
        "DryRunOperation"
    # Multi-Attach is for io1/io2 only (tests/api/test_ebs_multi_attach.py)
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=1, VolumeType="gp3",
                MultiAttachEnabled=True) == "InvalidParameterCombination"


def test_volume_not_found_and_malformed(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    missing = "vol-0123456789abcdef0"
    assert _err(ec2.describe_volumes, VolumeIds=[missing]) == "InvalidVolume.NotFound"
    assert _err(ec2.delete_volume, VolumeId=missing) == "InvalidVolume.NotFound"
    assert _err(ec2.modify_volume, VolumeId=missing, Size=5) == "InvalidVolume.NotFound"
    assert _err(ec2.create_snapshot, VolumeId=missing) == "InvalidVolume.NotFound"
    assert _err(ec2.describe_volumes, VolumeIds=["vol-xyz"]) == "InvalidVolumeID.Malformed"
    assert _err(ec2.describe_volumes, VolumeIds=[missing], MaxResults=5) == \
        "InvalidParameterCombination"
    assert _err(ec2.describe_volumes, MaxResults=2) == "InvalidParameterValue"
    assert _err(ec2.describe_volumes, Filters=[{"Name": "bogus", "Values": ["x"]}]) == \
        "InvalidParameterValue"


def test_snapshot_errors(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    missing = "snap-0123456789abcdef0"
    assert _err(ec2.describe_snapshots, SnapshotIds=[missing]) == "InvalidSnapshot.NotFound"
    assert _err(ec2.delete_snapshot, SnapshotId=missing) == "InvalidSnapshot.NotFound"
    assert _err(ec2.describe_snapshots, SnapshotIds=["snap-zz"]) == \
        "InvalidSnapshotID.Malformed"
    assert _err(ec2.describe_snapshots, SnapshotIds=[missing], MaxResults=5) == \
        "InvalidParameterCombination"
    assert _err(ec2.create_snapshots, InstanceSpecification={
        "InstanceId": "i-0123456789abcdef0"}) == "InvalidInstanceID.NotFound"
    assert _err(ec2.copy_snapshot, SourceSnapshotId=missing, SourceRegion="us-east-1") == \
        "InvalidParameterValue"
    assert _err(ec2.copy_snapshot, SourceSnapshotId=missing, SourceRegion=cloud.region) == \
        "InvalidSnapshot.NotFound"
    assert _err(ec2.describe_snapshot_attribute, SnapshotId=missing,
                Attribute="createVolumePermission") == "InvalidSnapshot.NotFound"


def test_modify_and_snapshot_rules(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    volume_id = new_volume(cloud, 2)
    assert _err(ec2.modify_volume, VolumeId=volume_id, Size=1) == "InvalidParameterValue"
    assert _err(ec2.modify_volume, VolumeId=volume_id, Size=2) == "InvalidParameterValue"
    assert _err(ec2.describe_volumes_modifications, VolumeIds=[volume_id]) == \
        "InvalidVolumeModification.NotFound"
    snap = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert _err(ec2.modify_snapshot_attribute, SnapshotId=snap, OperationType="add",
                Attribute="createVolumePermission", UserIds=["nobody"]) == \
        "InvalidUserID.Malformed"
    assert _err(ec2.describe_snapshot_attribute, SnapshotId=snap, Attribute="bogus") == \
        "InvalidParameterValue"
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=FAST)
    assert _err(ec2.create_volume, AvailabilityZone=zone_of(cloud), SnapshotId=snap,
                Size=1) == "InvalidParameterValue"
    ec2.delete_snapshot(SnapshotId=snap)
    ec2.delete_volume(VolumeId=volume_id)
    wait_gone(ec2, volume_id)


def test_snapshot_limit_property(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    volume_id = new_volume(cloud, 1)
    first = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    owned = len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])
    cloud.set_properties(f"storage.max_snapshots_per_account={owned}")
    try:
        time.sleep(1.5)  # every process polls properties once a second
        assert _err(ec2.create_snapshot, VolumeId=volume_id) == "SnapshotLimitExceeded"
    finally:
        cloud.reset_properties("storage.max_snapshots_per_account")
    ec2.delete_snapshot(SnapshotId=first)
    ec2.delete_volume(VolumeId=volume_id)


def test_client_token_and_pagination(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    zone = zone_of(cloud)
    token = uuid.uuid4().hex
    first = ec2.create_volume(AvailabilityZone=zone, Size=1, ClientToken=token)
    again = ec2.create_volume(AvailabilityZone=zone, Size=1, ClientToken=token)
    assert first["VolumeId"] == again["VolumeId"]
    assert _err(ec2.create_volume, AvailabilityZone=zone, Size=2, ClientToken=token) == \
        "IdempotentParameterMismatch"
    batch = uuid.uuid4().hex
    made = {first["VolumeId"]}
    ec2.create_tags(Resources=[first["VolumeId"]], Tags=[{"Key": "batch", "Value": batch}])
    for _ in range(6):
        made.add(ec2.create_volume(AvailabilityZone=zone, Size=1, TagSpecifications=[{
            "ResourceType": "volume", "Tags": [{"Key": "batch", "Value": batch}]}])["VolumeId"])
    flt = [{"Name": "tag:batch", "Values": [batch]}]
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, object] = {"Filters": flt, "MaxResults": 5}
    while True:
        page = ec2.describe_volumes(**kwargs)
        pages += 1
        seen += [v["VolumeId"] for v in page["Volumes"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages == 2 and sorted(seen) == sorted(made)
    paginated = ec2.get_paginator("describe_volumes").paginate(
        Filters=flt, PaginationConfig={"PageSize": 5})
    assert sorted(v["VolumeId"] for p in paginated for v in p["Volumes"]) == sorted(made)
    assert _err(ec2.describe_volumes, MaxResults=5, NextToken="!!notatoken!!") in (
        "InvalidNextToken", "InvalidParameterValue")
    for key, value in (("size", "1"), ("availability-zone", zone), ("volume-type", "gp2"),
                       ("encrypted", "false"), ("status", "*")):
        got = ec2.describe_volumes(Filters=[*flt, {"Name": key, "Values": [value]}])
        assert len(got["Volumes"]) == 7, key
    ec2.get_waiter("volume_available").wait(VolumeIds=sorted(made), WaiterConfig=FAST)
    for volume_id in made:
        ec2.delete_volume(VolumeId=volume_id)


_ATTACH = """
import asyncio, sys
from cloudctl.config import load_settings
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.services.ec2.ebs import attachments as ebs

class Cloud:
    def __init__(self):
        self.engine = create_engine(load_settings().database_url)
        self.sessions = session_factory(self.engine)

async def main(op, volume_id):
    cloud = Cloud()
    if op == "attach":
        await ebs.mark_attached(cloud, volume_id, "i-0123456789abcdef0", "/dev/vdb")
    else:
        await ebs.mark_detached(cloud, volume_id)
    await cloud.engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_attachment_functions_volume_in_use(cloud: LiveCloud) -> None:
    """The compute part's functions: in-use, attachment filters, VolumeInUse."""
    ec2 = cloud.client("ec2")
    volume_id = new_volume(cloud, 1)

    def call(op: str) -> None:
        subprocess.run([sys.executable, "-c", _ATTACH, op, volume_id], env=cloud.env(),
                       check=True, capture_output=True, timeout=60)

    call("attach")
    vol = ec2.describe_volumes(Filters=[
        {"Name": "attachment.instance-id", "Values": ["i-0123456789abcdef0"]},
        {"Name": "attachment.status", "Values": ["attached"]}])["Volumes"]
    assert [v["VolumeId"] for v in vol] == [volume_id]
    assert vol[0]["State"] == "in-use" and vol[0]["Attachments"][0]["Device"] == "/dev/vdb"
    assert _err(ec2.delete_volume, VolumeId=volume_id) == "VolumeInUse"
    snap = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]  # allowed while in use
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=FAST)
    call("detach")
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "available"
    ec2.delete_snapshot(SnapshotId=snap)
    ec2.delete_volume(VolumeId=volume_id)
    wait_gone(ec2, volume_id)
