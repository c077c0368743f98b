"""Regions as Eucalyptus served them: one cloud whatever region a client signs for.

A cloud initialised with ``cloudctl init --region us-west-2`` and then started with
``cloudctl up`` has only that region's zones (AWS zone ids); a boto3 client left on
``us-east-1`` and the AWS CLI on the cloud's region see the same resources; the
``region.unknown_region_policy=refuse`` property answers as AWS does instead.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud, wait_for

REGION = "us-west-2"


@pytest.fixture
def west(west_cloud: LiveCloud) -> LiveCloud:
    """The cloud in us-west-2 (zones a and b) of tests/api/conftest.py."""
    return west_cloud


def _client(cloud: LiveCloud, service: str, region: str) -> Any:
    session = cloud.session()
    return session.client(service, region_name=region, endpoint_url=cloud.endpoint)


def test_up_keeps_the_initialised_region(west: LiveCloud) -> None:
    ec2 = west.client("ec2")
    assert [r["RegionName"] for r in ec2.describe_regions()["Regions"]] == [REGION]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"]) for z in zones] == [
        ("us-west-2a", "usw2-az1"), ("us-west-2b", "usw2-az2")]


def test_default_region_clients_see_the_cloud(west: LiveCloud) -> None:
    name = f"reg-{uuid.uuid4().hex[:8]}"
    _client(west, "ec2", "us-east-1").create_key_pair(KeyName=name)
    listed = json.loads(west.aws("ec2", "describe-key-pairs", version=2).stdout)
    assert name in [k["KeyName"] for k in listed["KeyPairs"]]
    zones = _client(west, "ec2", "eu-central-1").describe_availability_zones()
    assert [z["ZoneName"] for z in zones["AvailabilityZones"]] == ["us-west-2a", "us-west-2b"]


def test_refuse_policy(west: LiveCloud) -> None:
    west.set_properties("region.unknown_region_policy=refuse")
    try:
        ec2 = _client(west, "ec2", "us-east-1")

        def refused() -> bool:
            try:
                ec2.describe_key_pairs()
            except ClientError as err:
                return bool(err.response["Error"]["Code"] == "SignatureDoesNotMatch")
            return False

        wait_for(refused, timeout=15, what="the refuse policy")
        with pytest.raises(ClientError) as err:
            ec2.describe_key_pairs()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "scoped to a valid region" in err.value.response["Error"]["Message"]
        west.client("ec2").describe_key_pairs()  # the cloud's own region still works
        _client(west, "iam", "us-east-1").list_users()  # IAM is global: us-east-1 scope
        # S3 refuses naming the region to use (SDKs follow it to the right endpoint)
        with pytest.raises(ClientError) as s3_err:
            _client(west, "s3", "ap-south-1").list_buckets()
        response = s3_err.value.response
        assert (response["Error"]["Code"], response["Error"]["Region"]) == \
            ("AuthorizationHeaderMalformed", REGION)
        assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == REGION
        west.cli("property", "get", "region.unknown_region_policy")  # admin CLI unaffected
    finally:
        west.reset_properties("region.unknown_region_policy")
