"""RegisterImage names only snapshots the caller may use.

A BlockDeviceMapping with another account's snapshot (not shared) answers
``InvalidSnapshot.NotFound`` as AWS does, for the root device and any other device,
and registers nothing; once the owner shares it (createVolumePermission) the same
call succeeds.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.test_ebs_flows import FAST, new_volume, second_account
from tests.support import LiveCloud


def test_register_image_refuses_another_accounts_snapshot(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    owner = cloud.client("ec2")
    volume_id = new_volume(cloud)
    snapshot_id = owner.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    owner.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=FAST)
    creds = second_account(cloud, f"snapthief-{uuid.uuid4().hex[:6]}")
    theirs = cloud.client("ec2", access_key=creds["access_key"], secret_key=creds["secret_key"])
    own_snapshot = theirs.create_snapshot(VolumeId=new_volume(cloud, creds={
        "access_key": creds["access_key"], "secret_key": creds["secret_key"]}))["SnapshotId"]
    theirs.get_waiter("snapshot_completed").wait(SnapshotIds=[own_snapshot], WaiterConfig=FAST)

    def register(name: str, root: str, data: str | None = None) -> str:
        mappings = [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": root}}]
        if data:
            mappings.append({"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": data}})
        return str(theirs.register_image(Name=name, RootDeviceName="/dev/sda1",
                                         BlockDeviceMappings=mappings)["ImageId"])

    for root, data in ((snapshot_id, None), (own_snapshot, snapshot_id)):
        with pytest.raises(ClientError) as err:
            register(f"stolen-{uuid.uuid4().hex[:6]}", root, data)
        assert err.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
        assert snapshot_id in err.value.response["Error"]["Message"]
    assert theirs.describe_images(Owners=["self"])["Images"] == []

    owner.modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                    OperationType="add", UserIds=[creds["account_id"]])
    image_id = register("shared", snapshot_id)
    assert [i["ImageId"] for i in theirs.describe_images(Owners=["self"])["Images"]] == [image_id]
