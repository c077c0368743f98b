"""A load balancer's source security group (outside a VPC: ``default_elb_<id>``, as
DescribeLoadBalancers names it) as the source of an EC2 group rule, through boto3
against a live cloud: accepted for the account's own load balancer, shown back with
its name, revoked, named by another account with its owner; an unknown one refused
as AWS refuses a missing group. (The EDGE data plane admitting the load balancer by it:
tests/integration/test_elb_guests.py.)"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import second_account
from tests.support import LiveCloud

HTTP = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_source_security_group_in_group_rules(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2, elb, name = cloud.client("ec2"), cloud.client("elb"), f"g-{uuid.uuid4().hex[:8]}"
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    elb.create_load_balancer(LoadBalancerName=name, Listeners=[HTTP],
                             AvailabilityZones=[zone])
    source = elb.describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"][0]["SourceSecurityGroup"]
    assert source["OwnerAlias"] == cloud.account_id
    assert source["GroupName"].startswith("default_elb_")
    group = ec2.create_security_group(GroupName=f"be-{name}", Description="backends")["GroupId"]

    def perm(group_name: str, user: str) -> dict[str, object]:
        return {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                "UserIdGroupPairs": [{"GroupName": group_name, "UserId": user}]}

    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        perm(source["GroupName"], source["OwnerAlias"])])
    [rule] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    assert rule["UserIdGroupPairs"] == [{"GroupId": source["GroupName"],
                                         "GroupName": source["GroupName"],
                                         "UserId": cloud.account_id}]
    # the flat form (SourceSecurityGroupName/OwnerId) too: already there
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(
            GroupId=group, IpProtocol="tcp", FromPort=8080, ToPort=8080,
            SourceSecurityGroupName=source["GroupName"],
            SourceSecurityGroupOwnerId=source["OwnerAlias"])
    assert _code(exc) == "InvalidPermission.Duplicate"
    for bad in ("default_elb_1234567890", "default_elb_x"):
        with pytest.raises(ClientError) as exc:
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                perm(bad, cloud.account_id)])
        assert _code(exc) == "InvalidGroup.NotFound", bad
    # another account names it with its owner (as any account's group, EC2-Classic's
    # amazon-elb/amazon-elb-sg); as its own it does not exist
    key, secret, other = second_account(cloud, f"elbsg{uuid.uuid4().hex[:6]}")
    ec2_other = cloud.client("ec2", access_key=key, secret_key=secret)
    theirs = ec2_other.create_security_group(GroupName="be", Description="x")["GroupId"]
    with pytest.raises(ClientError) as exc:
        ec2_other.authorize_security_group_ingress(GroupId=theirs, IpPermissions=[
            perm(source["GroupName"], other)])
    assert _code(exc) == "InvalidGroup.NotFound"
    ec2_other.authorize_security_group_ingress(GroupId=theirs, IpPermissions=[
        perm(source["GroupName"], cloud.account_id)])
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[
        perm(source["GroupName"], source["OwnerAlias"])])
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0][
        "IpPermissions"] == []
    elb.delete_load_balancer(LoadBalancerName=name)
