"""CopyImage within the cloud's region, through boto3.

An EBS-backed copy gets new snapshots (EBS snapshot copies owned by the caller),
an instance-store copy a new registration over the same artifacts; both start
`pending` and become `available`. ClientToken makes the call idempotent.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.api.test_ebs_flows import FAST, new_volume, second_account
from tests.support import LiveCloud


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_copy_ebs_image_copies_snapshots(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    snapshot = ec2.create_snapshot(VolumeId=new_volume(cloud))["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot], WaiterConfig=FAST)
    source = ec2.register_image(Name="ebs-src", RootDeviceName="/dev/sda1",
                                Description="the source", BlockDeviceMappings=[
                                    {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}])
    token = uuid.uuid4().hex
    copy = ec2.copy_image(SourceImageId=source["ImageId"], SourceRegion=cloud.region,
                          Name="ebs-copy", Description="a copy", ClientToken=token)["ImageId"]
    assert copy != source["ImageId"] and copy.startswith("emi-")
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] in ("pending", "available")
    ec2.get_waiter("image_available").wait(ImageIds=[copy], WaiterConfig=FAST)
    image = ec2.describe_images(ImageIds=[copy])["Images"][0]
    assert (image["Name"], image["Description"]) == ("ebs-copy", "a copy")
    assert image["RootDeviceType"] == "ebs" and image["OwnerId"] == cloud.account_id
    new_snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert new_snapshot != snapshot
    snap = ec2.describe_snapshots(SnapshotIds=[new_snapshot])["Snapshots"][0]
    assert snap["State"] == "completed" and copy in snap["Description"]
    # the same token: the same image; with another name: a mismatch
    assert ec2.copy_image(SourceImageId=source["ImageId"], SourceRegion=cloud.region,
                          Name="ebs-copy", ClientToken=token)["ImageId"] == copy
    with pytest.raises(ClientError) as err:
        ec2.copy_image(SourceImageId=source["ImageId"], SourceRegion=cloud.region,
                       Name="other-name", ClientToken=token)
    assert _code(err) == "IdempotentParameterMismatch"
    # encrypted snapshot copies, as CopySnapshot makes them
    enc = ec2.copy_image(SourceImageId=source["ImageId"], SourceRegion=cloud.region,
                         Name="ebs-enc", Encrypted=True)["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[enc], WaiterConfig=FAST)
    enc_snap = ec2.describe_images(ImageIds=[enc])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]
    assert ec2.describe_snapshots(SnapshotIds=[enc_snap["SnapshotId"]])["Snapshots"][0][
        "Encrypted"] is True
    # a copy is an image of its own: it deregisters like any other
    ec2.deregister_image(ImageId=copy)
    assert ec2.describe_images(Owners=["self"], Filters=[
        {"Name": "image-id", "Values": [copy]}])["Images"] == []


def test_copy_instance_store_image_and_errors(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    images = register_image_set(cloud, cloud.data_dir / f"copy-{uuid.uuid4().hex[:6]}")
    source = ec2.describe_images(ImageIds=[images["emi"]])["Images"][0]
    copy = ec2.copy_image(SourceImageId=images["emi"], SourceRegion=cloud.region,
                          Name="is-copy")["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[copy], WaiterConfig=FAST)
    image = ec2.describe_images(ImageIds=[copy])["Images"][0]
    for same in ("ImageLocation", "KernelId", "RamdiskId", "RootDeviceType", "ImageType"):
        assert image[same] == source[same], same
    assert image["Name"] == "is-copy" and image["Description"] == ""

    # another account copies a shared image into its own account
    creds = second_account(cloud, f"copier-{uuid.uuid4().hex[:6]}")
    theirs = cloud.client("ec2", access_key=creds["access_key"], secret_key=creds["secret_key"])
    with pytest.raises(ClientError) as err:
        theirs.copy_image(SourceImageId=images["emi"], SourceRegion=cloud.region, Name="stolen")
    assert _code(err) == "InvalidAMIID.NotFound"
    ec2.modify_image_attribute(ImageId=images["emi"], LaunchPermission={
        "Add": [{"UserId": creds["account_id"]}]})
    shared = theirs.copy_image(SourceImageId=images["emi"], SourceRegion=cloud.region,
                               Name="shared-copy")["ImageId"]
    theirs.get_waiter("image_available").wait(ImageIds=[shared], WaiterConfig=FAST)
    assert theirs.describe_images(ImageIds=[shared])["Images"][0]["OwnerId"] == \
        creds["account_id"]

    for bad, code in (({"SourceRegion": "elsewhere-1"}, "InvalidParameterValue"),
                      ({"Encrypted": True}, "InvalidParameterCombination"),
                      ({"Name": "bad name!"}, "InvalidAMIName.Malformed"),
                      ({"SourceImageId": "emi-0000000000000000f"}, "InvalidAMIID.NotFound")):
        args = {"SourceImageId": images["emi"], "SourceRegion": cloud.region, "Name": "bad-1",
                **bad}
        with pytest.raises(ClientError) as err:
            ec2.copy_image(**args)
        assert _code(err) == code, bad
