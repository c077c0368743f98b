"""DescribeImages: who owns an image, by `Owners` and the `owner-alias` filter.

The cloud administrator's images are the cloud's own, as Amazon's are on AWS:
DescribeImages gives them `ImageOwnerAlias` "amazon", and both `Owners=["amazon"]`
and the filter `owner-alias` (values "amazon", or the Eucalyptus name
"eucalyptus") select them. Images of other accounts carry no alias.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.api.test_ebs_flows import FAST, new_volume, second_account
from tests.support import LiveCloud


def test_owner_alias_filter_and_owners(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    admin = cloud.client("ec2")
    system = register_image_set(cloud, cloud.data_dir / f"owners-{uuid.uuid4().hex[:6]}")
    admin.modify_image_attribute(ImageId=system["emi"], LaunchPermission={
        "Add": [{"Group": "all"}]})
    creds = second_account(cloud, f"owners-{uuid.uuid4().hex[:6]}")
    keys = {"access_key": creds["access_key"], "secret_key": creds["secret_key"]}
    user = cloud.client("ec2", **keys)
    snapshot = user.create_snapshot(VolumeId=new_volume(cloud, creds=keys))["SnapshotId"]
    user.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot], WaiterConfig=FAST)
    own = user.register_image(Name="mine", RootDeviceName="/dev/sda1", BlockDeviceMappings=[
        {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]

    def ids(**kwargs: object) -> set[str]:
        return {i["ImageId"] for i in user.describe_images(**kwargs)["Images"]}

    seen = {i["ImageId"]: i for i in user.describe_images()["Images"]}
    assert seen[system["emi"]]["ImageOwnerAlias"] == "amazon"
    assert "ImageOwnerAlias" not in seen[own]
    public_system = {i for i, img in seen.items() if img.get("ImageOwnerAlias") == "amazon"}
    assert system["emi"] in public_system and own not in public_system  # + the demo images
    assert system["eki"] not in public_system  # not shared: not visible
    assert ids(Filters=[{"Name": "owner-alias", "Values": ["amazon"]}]) == public_system
    assert ids(Filters=[{"Name": "owner-alias", "Values": ["eucalyptus"]}]) == public_system
    assert ids(Filters=[{"Name": "owner-alias", "Values": ["aws-marketplace"]}]) == set()
    assert ids(Owners=["amazon"]) == public_system
    assert ids(Owners=["self"]) == {own}
    assert ids(Owners=["self", "amazon"]) == public_system | {own}
    assert ids(Owners=[creds["account_id"]]) == {own}
    assert ids(Owners=["aws-marketplace"]) == set()
    with pytest.raises(ClientError) as err:
        user.describe_images(Owners=["nobody"])
    assert err.value.response["Error"]["Code"] == "InvalidUserID.Malformed"
    # the administrator's own view: every system image has the alias
    mine = admin.describe_images(Owners=["self"])["Images"]
    assert {system["eki"], system["eri"], system["emi"]} <= {i["ImageId"] for i in mine}
    assert {i.get("ImageOwnerAlias") for i in mine} == {"amazon"}
