"""One NextToken format for the EC2 Describe calls: a token resumes only the query it was
minted for (cloudctl.services.paging), through boto3."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.test_ebs_flows import FAST, zone_of
from tests.support import LiveCloud


def _refused(fn: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        fn(**kwargs)  # type: ignore[operator]
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_a_volumes_token_is_refused_elsewhere(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    zone = zone_of(cloud)
    batch = uuid.uuid4().hex
    made = [ec2.create_volume(AvailabilityZone=zone, Size=1, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": "batch", "Value": batch}]}])["VolumeId"]
        for _ in range(6)]
    flt = [{"Name": "tag:batch", "Values": [batch]}]
    first = ec2.describe_volumes(Filters=flt, MaxResults=5)
    token = first["NextToken"]
    assert [v["VolumeId"] for v in first["Volumes"]] == sorted(made)[:5]
    # the token resumes its own query (MaxResults may change between pages)...
    rest = ec2.describe_volumes(Filters=flt, MaxResults=6, NextToken=token)
    assert [v["VolumeId"] for v in rest["Volumes"]] == sorted(made)[5:]
    assert "NextToken" not in rest
    # ...and no other: another operation, other filters
    assert _refused(ec2.describe_snapshots, OwnerIds=["self"], MaxResults=5,
                    NextToken=token) == ("InvalidNextToken", "The pagination token is invalid.")
    assert _refused(ec2.describe_volume_status, MaxResults=5, NextToken=token)[0] == \
        "InvalidNextToken"
    assert _refused(ec2.describe_volumes, MaxResults=5, NextToken=token,
                    Filters=[{"Name": "tag:batch", "Values": ["other"]}])[0] == \
        "InvalidNextToken"
    assert _refused(ec2.describe_instances, MaxResults=5, NextToken=token) == \
        ("InvalidNextToken", f"The token '{token}' is invalid.")
    assert _refused(ec2.describe_tags, MaxResults=5, NextToken=token)[0] == "InvalidNextToken"
    # the EBS calls still serve MaxResults above their maximum as the maximum
    assert len(ec2.describe_volumes(Filters=flt, MaxResults=1000)["Volumes"]) == 6
    ec2.get_waiter("volume_available").wait(VolumeIds=made, WaiterConfig=FAST)
    for volume_id in made:
        ec2.delete_volume(VolumeId=volume_id)
