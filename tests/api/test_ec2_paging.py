"""One NextToken format for the EC2 Describe calls: a token resumes only the query it was
minted for (cloudctl.services.paging), through boto3."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import second_account
from tests.api.test_ebs_flows import FAST, zone_of
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _refused(fn: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        fn(**kwargs)  # type: ignore[operator]
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


@pytest.mark.sqlite_only("token scopes are decided before any SQL")
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


def test_every_volume_paged_in_sql_as_in_python(cloud: LiveCloud) -> None:
    """With no ids and no filters, DescribeVolumes pages in SQL (keyset and limit in the
    query): the same pages, order and tokens as the Python paging of a filtered query
    (on both databases: the order and the keyset are the database's)."""
    name = f"paging-{uuid.uuid4().hex[:8]}"
    access, secret, _account = second_account(cloud, name)
    ec2 = cloud.client("ec2", access_key=access, secret_key=secret)
    zone = zone_of(cloud)
    made = sorted(ec2.create_volume(AvailabilityZone=zone, Size=1, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": "n", "Value": str(i)}]}])["VolumeId"]
        for i in range(7))
    first = ec2.describe_volumes(MaxResults=5)
    assert [v["VolumeId"] for v in first["Volumes"]] == made[:5]
    # each volume of the page carries its own tags, read for the page only
    assert sorted(v["Tags"][0]["Value"] for v in first["Volumes"]) == \
        sorted(v["Tags"][0]["Value"] for v in ec2.describe_volumes(VolumeIds=made[:5])["Volumes"])
    rest = ec2.describe_volumes(MaxResults=5, NextToken=first["NextToken"])
    assert [v["VolumeId"] for v in rest["Volumes"]] == made[5:]
    assert "NextToken" not in rest
    # an exact fit ends without a token; a token alone serves everything after it
    assert "NextToken" not in ec2.describe_volumes(MaxResults=7)
    assert [v["VolumeId"] for v in ec2.describe_volumes(
        NextToken=first["NextToken"])["Volumes"]] == made[5:]
    # the paginator (MaxResults per page) walks them all, as one unpaged call lists them
    pages = ec2.get_paginator("describe_volumes").paginate(
        PaginationConfig={"PageSize": 5})
    assert [v["VolumeId"] for p in pages for v in p["Volumes"]] == made
    assert sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]) == made
    # a token of this query resumes no other, and another's does not resume this one
    flt = [{"Name": "size", "Values": ["1"]}]
    assert _refused(ec2.describe_volumes, MaxResults=5, NextToken=first["NextToken"],
                    Filters=flt)[0] == "InvalidNextToken"
    filtered = ec2.describe_volumes(MaxResults=5, Filters=flt)
    assert [v["VolumeId"] for v in filtered["Volumes"]] == made[:5]
    # a filter on columns reads the page's tags only; one on tags reads every volume's
    tag_of = {v["VolumeId"]: v["Tags"] for v in ec2.describe_volumes()["Volumes"]}
    assert all(v["Tags"] == tag_of[v["VolumeId"]] for v in filtered["Volumes"])
    third = ec2.describe_volumes(Filters=[{"Name": "tag:n", "Values": ["3"]}])["Volumes"]
    assert [v["Tags"] for v in third] == [[{"Key": "n", "Value": "3"}]]
    assert len(ec2.describe_volumes(Filters=[{"Name": "tag-key", "Values": ["n"]}],
                                    MaxResults=5)["Volumes"]) == 5
    assert ec2.describe_volumes(Filters=[{"Name": "attachment.status",
                                          "Values": ["attached"]}])["Volumes"] == []
    assert _refused(ec2.describe_volumes, MaxResults=5,
                    NextToken=filtered["NextToken"]) == \
        ("InvalidNextToken", "The pagination token is invalid.")
    assert _refused(ec2.describe_volumes, MaxResults=5, NextToken="not-a-token")[0] == \
        "InvalidNextToken"
    # another account sees none of them
    assert not {v["VolumeId"] for v in cloud.client("ec2").describe_volumes(
        MaxResults=500)["Volumes"]} & set(made)
    ec2.get_waiter("volume_available").wait(VolumeIds=made, WaiterConfig=FAST)
    for volume_id in made:
        ec2.delete_volume(VolumeId=volume_id)
