"""VPC security groups: VpcId, the default group of each VPC, egress rules and the
egress-all rule a new group has (revoked exactly, as Terraform does), addressing by id."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases

EGRESS_ALL = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_vpc_groups_default_egress_and_revoke(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    defaults = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert [(g["GroupName"], g["Description"]) for g in defaults] == [
        ("default", "default VPC security group")]
    default = defaults[0]
    assert default["VpcId"] == vpc_id
    assert default["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == default["GroupId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=default["GroupId"])
    assert _code(exc) == "CannotDelete"
    # the same name in two VPCs (and in EDGE) is fine; twice in one VPC is not
    gid = ec2.create_security_group(GroupName="web", Description="w", VpcId=vpc_id)["GroupId"]
    ec2.create_security_group(GroupName="web", Description="w", VpcId=other_vpc)
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName="web", Description="w", VpcId=vpc_id)
    assert _code(exc) == "InvalidGroup.Duplicate"
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName="web2", Description="w",
                                  VpcId="vpc-0123456789abcdef0")
    assert _code(exc) == "InvalidVpcID.NotFound"
    group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert group["VpcId"] == vpc_id and group["IpPermissions"] == []
    egress = group["IpPermissionsEgress"]
    assert len(egress) == 1 and egress[0]["IpProtocol"] == "-1"
    assert egress[0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    # VPC groups are addressed by id: the name finds none (EDGE names stay EDGE)
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupNames=["web"])
    assert _code(exc) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="tcp", FromPort=80,
                                             ToPort=80, CidrIp="0.0.0.0/0")
    assert _code(exc) == "InvalidGroup.NotFound"
    # revoking exactly the egress-all rule works; then egress is empty
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[EGRESS_ALL])
    assert ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0][
        "IpPermissionsEgress"] == []
    with pytest.raises(ClientError) as exc:
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[EGRESS_ALL])
    assert _code(exc) == "InvalidPermission.NotFound"
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"GroupId": default["GroupId"]}]}])
    got = ec2.describe_security_groups(Filters=[
        {"Name": "egress.ip-permission.to-port", "Values": ["443"]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert [g["GroupId"] for g in got] == [gid]
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc_id)
    assert _code(exc) == "DependencyViolation"
    ec2.delete_security_group(GroupId=gid)
    ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=[default["GroupId"]])
    assert _code(exc) == "InvalidGroup.NotFound"
    # the EDGE default group is still the only group the name 'default' finds
    edge = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert len(edge) == 1 and "VpcId" not in edge[0]
