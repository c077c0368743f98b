"""EBS volumes and snapshots through boto3 and the AWS CLI against a live cloud.

The flows are plain functions of a ``LiveCloud`` so that the Ceph RBD integration
tests (``tests/integration/test_ebs_ceph.py``) run the very same flows on a cloud
whose zone uses ``ceph-rbd``; here they run on the default file backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


# boto3's waiters poll every 15 s; these every 0.2 s for up to two minutes (a volume is
# available, a snapshot completed, within a second or two on the file backend: a 1 s
# poll spent half a second a wait on average)
FAST = {"Delay": 0.2, "MaxAttempts": 600}
POLL = 0.2


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def zone_of(cloud: LiveCloud) -> str:
    ec2 = cloud.client("ec2")
    return str(ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"])


def second_account(cloud: LiveCloud, name: str) -> dict[str, str]:
    """Credentials of the admin of account ``name``, created if missing.

    Through the IAM CreateAccount extension when the cloud has it, else by the
    bootstrap function the identity part publishes; keys from ``cloudctl credentials``.
    """
    try:
        cloud.client("iam").create_account(AccountName=name)
    except Exception:  # not there, or exists: ensure it directly
        script = ("import asyncio,sys\n"
                  "from cloudctl.config import load_settings\n"
                  "from cloudctl.db.engine import create_engine, session_factory\n"
                  "from cloudctl.services.iam.bootstrap import ensure_account\n"
                  "async def main():\n"
                  "    e = create_engine(load_settings().database_url)\n"
                  "    async with session_factory(e)() as s, s.begin():\n"
                  "        await ensure_account(s, sys.argv[1])\n"
                  "    await e.dispose()\n"
                  "asyncio.run(main())\n")
        subprocess.run([sys.executable, "-c", script, name], env=cloud.env(), check=True,
                       capture_output=True, timeout=60)
    access_key, secret_key, account_id = cloud.credentials(name)
    return {"access_key": access_key, "secret_key": secret_key, "account_id": account_id}


def new_volume(cloud: LiveCloud, size: int = 1, **kwargs: Any) -> str:
    ec2 = cloud.client("ec2", **kwargs.pop("creds", {}))
    vol = ec2.create_volume(AvailabilityZone=zone_of(cloud), Size=size, **kwargs)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)
    return str(vol["VolumeId"])


def wait_gone(ec2: Any, volume_id: str) -> None:
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[volume_id], WaiterConfig=FAST)


def wait_snapshot_gone(ec2: Any, snapshot_id: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            ec2.describe_snapshots(SnapshotIds=[snapshot_id])
        except ClientError as err:
            assert err.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
            return
        time.sleep(POLL)
    raise AssertionError(f"{snapshot_id} still there")


# -- flows (also run on Ceph RBD) ---------------------------------------------------

def flow_volume_lifecycle(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    zone = zone_of(cloud)
    vol = ec2.create_volume(AvailabilityZone=zone, Size=2, VolumeType="gp3",
                            TagSpecifications=[{"ResourceType": "volume",
                                                "Tags": [{"Key": "Name", "Value": "data"}]}])
    assert vol["State"] == "creating"
    assert vol["Size"] == 2 and vol["VolumeType"] == "gp3" and vol["Iops"] == 3000
    assert vol["Tags"] == [{"Key": "Name", "Value": "data"}]
    volume_id = vol["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    found = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["data"]},
                                          {"Name": "volume-id", "Values": [volume_id]}])
    assert [v["VolumeId"] for v in found["Volumes"]] == [volume_id]
    assert found["Volumes"][0]["State"] == "available"
    status = ec2.describe_volume_status(VolumeIds=[volume_id])["VolumeStatuses"][0]
    assert status["VolumeStatus"]["Status"] == "ok"
    ec2.delete_volume(VolumeId=volume_id)
    wait_gone(ec2, volume_id)


def flow_snapshot_restore_grow_copy(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    zone = zone_of(cloud)
    volume_id = new_volume(cloud, 1)
    snap = ec2.create_snapshot(VolumeId=volume_id, Description="first")
    assert snap["State"] == "pending" and snap["Progress"].endswith("%")
    snapshot_id = snap["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=FAST)
    done = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert done["Progress"] == "100%" and done["VolumeId"] == volume_id
    assert done["OwnerId"] == cloud.account_id and done["VolumeSize"] == 1
    # restore, larger than the snapshot
    restored = ec2.create_volume(AvailabilityZone=zone, SnapshotId=snapshot_id, Size=2)
    assert restored["SnapshotId"] == snapshot_id
    ec2.get_waiter("volume_available").wait(VolumeIds=[restored["VolumeId"]], WaiterConfig=FAST)
    # grow
    mod = ec2.modify_volume(VolumeId=restored["VolumeId"], Size=3)["VolumeModification"]
    assert mod["OriginalSize"] == 2 and mod["TargetSize"] == 3
    deadline = time.time() + 60
    while time.time() < deadline:
        mods = ec2.describe_volumes_modifications(VolumeIds=[restored["VolumeId"]])
        if mods["VolumesModifications"][0]["ModificationState"] == "completed":
            break
        time.sleep(POLL)
    else:
        raise AssertionError("modification did not complete")
    grown = ec2.describe_volumes(VolumeIds=[restored["VolumeId"]])["Volumes"][0]
    assert grown["Size"] == 3
    # copy
    copy = ec2.copy_snapshot(SourceSnapshotId=snapshot_id, SourceRegion=cloud.region,
                             Description="copy")
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[copy["SnapshotId"]],
                                              WaiterConfig=FAST)
    from_copy = ec2.create_volume(AvailabilityZone=zone, SnapshotId=copy["SnapshotId"])
    assert from_copy["Size"] == 1
    ec2.get_waiter("volume_available").wait(VolumeIds=[from_copy["VolumeId"]],
                                            WaiterConfig=FAST)
    # the source volume may go while its snapshots live on
    for vid in (volume_id, restored["VolumeId"], from_copy["VolumeId"]):
        ec2.delete_volume(VolumeId=vid)
    for sid in (snapshot_id, copy["SnapshotId"]):
        ec2.delete_snapshot(SnapshotId=sid)
    for vid in (volume_id, restored["VolumeId"], from_copy["VolumeId"]):
        wait_gone(ec2, vid)
    for sid in (snapshot_id, copy["SnapshotId"]):
        wait_snapshot_gone(ec2, sid)


def flow_share_snapshot(cloud: LiveCloud, account_name: str) -> None:
    ec2 = cloud.client("ec2")
    other = second_account(cloud, account_name)
    creds = {"access_key": other["access_key"], "secret_key": other["secret_key"]}
    theirs = cloud.client("ec2", **creds)
    volume_id = new_volume(cloud, 1)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=FAST)
    with pytest.raises(ClientError) as err:
        theirs.describe_snapshots(SnapshotIds=[snapshot_id])
    assert code_of(err) == "InvalidSnapshot.NotFound"
    with pytest.raises(ClientError) as err:
        theirs.create_volume(AvailabilityZone=zone_of(cloud), SnapshotId=snapshot_id)
    assert code_of(err) == "InvalidSnapshot.NotFound"
    ec2.modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                  OperationType="add", UserIds=[other["account_id"]])
    attr = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id,
                                           Attribute="createVolumePermission")
    assert attr["CreateVolumePermissions"] == [{"UserId": other["account_id"]}]
    visible = theirs.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]
    assert snapshot_id in [s["SnapshotId"] for s in visible]
    assert snapshot_id not in [s["SnapshotId"] for s in
                               theirs.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    vol = theirs.create_volume(AvailabilityZone=zone_of(cloud), SnapshotId=snapshot_id)
    theirs.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)
    # the owner cannot see the other account's volume; the other cannot delete the snapshot
    with pytest.raises(ClientError) as err:
        ec2.describe_volumes(VolumeIds=[vol["VolumeId"]])
    assert code_of(err) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as err:
        theirs.delete_snapshot(SnapshotId=snapshot_id)
    assert code_of(err) == "InvalidSnapshot.NotFound"
    # public, then reset
    ec2.modify_snapshot_attribute(SnapshotId=snapshot_id, CreateVolumePermission={
        "Add": [{"Group": "all"}], "Remove": [{"UserId": other["account_id"]}]})
    attr = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id,
                                           Attribute="createVolumePermission")
    assert attr["CreateVolumePermissions"] == [{"Group": "all"}]
    assert theirs.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    ec2.reset_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    with pytest.raises(ClientError) as err:
        theirs.describe_snapshots(SnapshotIds=[snapshot_id])
    assert code_of(err) == "InvalidSnapshot.NotFound"
    # the volume made from it outlives the snapshot
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    wait_snapshot_gone(ec2, snapshot_id)
    assert theirs.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"][0]["State"] == \
        "available"
    theirs.delete_volume(VolumeId=vol["VolumeId"])
    ec2.delete_volume(VolumeId=volume_id)
    wait_gone(theirs, vol["VolumeId"])
    wait_gone(ec2, volume_id)


# -- the file backend (default) --------------------------------------------------------

def test_volume_lifecycle(cloud: LiveCloud) -> None:
    flow_volume_lifecycle(cloud)


def test_snapshot_restore_grow_copy(cloud: LiveCloud) -> None:
    flow_snapshot_restore_grow_copy(cloud)


def test_share_snapshot_with_another_account(cloud: LiveCloud) -> None:
    flow_share_snapshot(cloud, "ebs-share")


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3")
def test_aws_cli_volume_and_snapshot(cloud: LiveCloud) -> None:
    zone = zone_of(cloud)
    vol = json.loads(cloud.aws("ec2", "create-volume", "--availability-zone", zone,
                               "--size", "1", "--volume-type", "standard").stdout)
    assert vol["State"] == "creating" and vol["VolumeType"] == "standard"
    cloud.aws("ec2", "wait", "volume-available", "--volume-ids", vol["VolumeId"])
    snap = json.loads(cloud.aws("ec2", "create-snapshot", "--volume-id", vol["VolumeId"],
                                "--description", "cli").stdout)
    cloud.aws("ec2", "wait", "snapshot-completed", "--snapshot-ids", snap["SnapshotId"])
    out = json.loads(cloud.aws("ec2", "describe-snapshots", "--owner-ids", "self",
                               "--filters", "Name=description,Values=cli",
                               f"Name=volume-id,Values={vol['VolumeId']}").stdout)
    assert [s["SnapshotId"] for s in out["Snapshots"]] == [snap["SnapshotId"]]
    assert out["Snapshots"][0]["State"] == "completed"
    cloud.aws("ec2", "delete-snapshot", "--snapshot-id", snap["SnapshotId"])
    cloud.aws("ec2", "delete-volume", "--volume-id", vol["VolumeId"])
    cloud.aws("ec2", "wait", "volume-deleted", "--volume-ids", vol["VolumeId"])
