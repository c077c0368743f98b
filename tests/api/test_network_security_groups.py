"""Security groups through boto3 and the AWS CLI against the live cloud."""

from __future__ import annotations

import json
import secrets

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import launch, second_account, terminate
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _name(prefix: str = "grp") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_default_group_is_edge_default(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    groups = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert len(groups) == 1
    g = groups[0]
    assert g["OwnerId"] == cloud.account_id and g["Description"] == "default group"
    assert g["IpPermissions"] == [{"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [],
                                   "PrefixListIds": [], "UserIdGroupPairs": [
                                       {"GroupId": g["GroupId"], "GroupName": "default",
                                        "UserId": cloud.account_id}]}]
    assert g["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupName="default")
    assert _code(exc) == "CannotDelete"


def test_create_validate_duplicate_delete(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    name = _name()
    gid = ec2.create_security_group(GroupName=name, Description="d")["GroupId"]
    assert gid.startswith("sg-")
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName=name, Description="again")
    assert _code(exc) == "InvalidGroup.Duplicate"
    for bad in ({"GroupName": "sg-foo", "Description": "x"},
                {"GroupName": "x" * 256, "Description": "x"},
                {"GroupName": _name(), "Description": "caf\u00e9"}):
        with pytest.raises(ClientError) as exc:
            ec2.create_security_group(**bad)
        assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName=_name(), Description="")
    assert _code(exc) == "MissingParameter"
    ec2.delete_security_group(GroupId=gid)
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=[gid])
    assert _code(exc) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupName=name)
    assert _code(exc) == "InvalidGroup.NotFound"
    by_name = ec2.create_security_group(GroupName=name, Description="d")["GroupId"]
    ec2.delete_security_group(GroupName=name)
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=[by_name])
    assert _code(exc) == "InvalidGroup.NotFound"


def test_authorize_revoke_ingress_forms(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=_name(), Description="d")["GroupId"]
    src = ec2.create_security_group(GroupName=_name("src"), Description="d")["GroupId"]
    out = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"},
                      {"CidrIp": "192.168.1.7/32"}]},
        {"IpProtocol": "17", "FromPort": 53, "ToPort": 53, "UserIdGroupPairs": [{"GroupId": src}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "47", "IpRanges": [{"CidrIp": "172.16.0.0/12"}]},
    ])
    assert out["Return"] is True
    rules = out["SecurityGroupRules"]
    assert len(rules) == 5 and all(r["SecurityGroupRuleId"].startswith("sgr-") for r in rules)
    assert {r.get("CidrIpv4") for r in rules} >= {"10.0.0.0/8", "192.168.1.7/32"}
    # legacy flat parameters
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=80, ToPort=90,
                                         CidrIp="10.1.0.0/16")
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in g["IpPermissions"]}
    assert perms[("tcp", 22, 22)]["IpRanges"] == [
        {"CidrIp": "10.0.0.0/8", "Description": "ssh"}, {"CidrIp": "192.168.1.7/32"}]
    assert perms[("udp", 53, 53)]["UserIdGroupPairs"][0]["GroupId"] == src
    assert ("icmp", 8, -1) in perms and ("47", None, None) in perms
    assert perms[("tcp", 80, 90)]["IpRanges"] == [{"CidrIp": "10.1.0.0/16"}]
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22,
                                             ToPort=22, CidrIp="10.0.0.0/8")
    assert _code(exc) == "InvalidPermission.Duplicate"
    for bad in ({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.300/8"},
                {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "CidrIp": "10.0.0.0/8"},
                {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 70000, "CidrIp": "10.0.0.0/8"},
                {"IpProtocol": "bogus", "CidrIp": "10.0.0.0/8"}):
        with pytest.raises(ClientError) as exc:
            ec2.authorize_security_group_ingress(GroupId=gid, **bad)
        assert _code(exc) == "InvalidParameterValue", bad
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2,
             "UserIdGroupPairs": [{"GroupId": "sg-0000000000000dead"}]}])
    assert _code(exc) == "InvalidGroup.NotFound"
    revoked = ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert revoked["Return"] is True
    with pytest.raises(ClientError) as exc:
        ec2.revoke_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22, ToPort=22,
                                          CidrIp="10.0.0.0/8")
    assert _code(exc) == "InvalidPermission.NotFound"
    rule_id = next(r["SecurityGroupRuleId"] for r in rules if r.get("CidrIpv4") == "192.168.1.7/32")
    ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=[rule_id])
    left = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])
    assert rule_id not in {r["SecurityGroupRuleId"] for r in left["SecurityGroupRules"]}
    # a group referenced by another group's rule cannot be deleted
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=src)
    assert _code(exc) == "DependencyViolation"


def test_egress_and_legacy_source_group(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=_name(), Description="d")["GroupId"]
    other = _name("peer")
    ec2.create_security_group(GroupName=other, Description="d")
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    out = ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert out["SecurityGroupRules"][0]["IsEgress"] is True
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p["FromPort"]) for p in g["IpPermissionsEgress"]] == [("tcp", 443)]
    ec2.authorize_security_group_ingress(GroupId=gid, SourceSecurityGroupName=other,
                                         SourceSecurityGroupOwnerId=cloud.account_id)
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    pair = g["IpPermissions"][0]["UserIdGroupPairs"][0]
    assert pair["GroupName"] == other and pair["UserId"] == cloud.account_id
    assert g["IpPermissions"][0]["IpProtocol"] == "-1"


def test_describe_filters_and_pagination(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    tag = secrets.token_hex(4)
    made = []
    for n in range(7):
        gid = ec2.create_security_group(
            GroupName=f"page-{tag}-{n}", Description=f"page {tag}",
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": [{"Key": "batch", "Value": tag}]}])["GroupId"]
        made.append(gid)
    ec2.authorize_security_group_ingress(GroupId=made[0], IpProtocol="tcp", FromPort=8080,
                                         ToPort=8080, CidrIp="203.0.113.0/24")
    flt = [{"Name": "description", "Values": [f"page {tag}"]}]
    seen: list[str] = []
    token = None
    while True:
        kw = {"Filters": flt, "MaxResults": 5}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_security_groups(**kw)
        seen += [g["GroupId"] for g in page["SecurityGroups"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(made)
    one = ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.cidr", "Values": ["203.0.113.*"]},
        {"Name": "ip-permission.from-port", "Values": ["8080"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in one] == [made[0]]
    by_tag = ec2.describe_security_groups(Filters=[{"Name": "tag:batch", "Values": [tag]}])
    assert len(by_tag["SecurityGroups"]) == 7
    assert ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [f"page-{tag}-3"]},
        {"Name": "owner-id", "Values": [cloud.account_id]}])["SecurityGroups"][0]["GroupId"] == made[3]
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=[made[0]], MaxResults=5)
    assert _code(exc) == "InvalidParameterValue"
    rules = ec2.describe_security_group_rules(MaxResults=5)
    assert len(rules["SecurityGroupRules"]) == 5 and rules["NextToken"]
    rid = rules["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in got] == [rid]
    got = ec2.describe_security_group_rules(Filters=[
        {"Name": "security-group-rule-id", "Values": [rid]}])["SecurityGroupRules"]
    assert len(got) == 1
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_group_rules(SecurityGroupRuleIds=["sgr-00000000000000000"])
    assert _code(exc) == "InvalidSecurityGroupRuleId.NotFound"


def test_cross_account_group_pairs(cloud: LiveCloud) -> None:
    name = f"peer{secrets.token_hex(3)}"
    ak, sk, other_id = second_account(cloud, name)
    theirs = cloud.client("ec2", access_key=ak, secret_key=sk)
    their_gid = theirs.create_security_group(GroupName="clients", Description="d")["GroupId"]
    ec2 = cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=_name(), Description="d")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"UserId": other_id, "GroupName": "clients"}]}])
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
         "UserIdGroupPairs": [{"UserId": other_id, "GroupId": their_gid}]}])
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    pairs = [p["UserIdGroupPairs"][0] for p in g["IpPermissions"]]
    assert {(p["UserId"], p["GroupId"]) for p in pairs} == {(other_id, their_gid)}
    # their groups are invisible to us, and ours to them
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=[their_gid])
    assert _code(exc) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as exc:
        theirs.delete_security_group(GroupId=gid)
    assert _code(exc) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
             "UserIdGroupPairs": [{"UserId": other_id, "GroupName": "nope"}]}])
    assert _code(exc) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as exc:
        theirs.delete_security_group(GroupId=their_gid)
    assert _code(exc) == "DependencyViolation"


def test_group_in_use_by_instance_and_launch_functions(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    name = _name()
    gid = ec2.create_security_group(GroupName=name, Description="d")["GroupId"]
    inst = launch(cloud, cloud.account_id, groups=[gid], public=False)
    assert inst["groups"] == [gid] and inst["mac"].startswith("d0:0d:")
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=gid)
    assert _code(exc) == "DependencyViolation"
    default = launch(cloud, cloud.account_id, groups=None, public=False)
    dflt = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    assert default["groups"] == [dflt]
    terminate(cloud, inst["instance_id"])
    terminate(cloud, default["instance_id"])
    ec2.delete_security_group(GroupId=gid)


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3")
def test_aws_cli(cloud: LiveCloud) -> None:
    name = _name("cli")
    gid = json.loads(cloud.aws("ec2", "create-security-group", "--group-name", name,
                               "--description", "from the cli").stdout)["GroupId"]
    cloud.aws("ec2", "authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp",
              "--port", "22", "--cidr", "10.9.0.0/16")
    cloud.aws("ec2", "authorize-security-group-ingress", "--group-name", name, "--ip-permissions",
              "IpProtocol=udp,FromPort=1000,ToPort=2000,IpRanges=[{CidrIp=10.8.0.0/16}]")
    out = json.loads(cloud.aws("ec2", "describe-security-groups", "--group-names", name).stdout)
    perms = out["SecurityGroups"][0]["IpPermissions"]
    assert {(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in perms} == {
        ("tcp", 22, 22), ("udp", 1000, 2000)}
    dup = cloud.aws("ec2", "authorize-security-group-ingress", "--group-id", gid, "--protocol",
                    "tcp", "--port", "22", "--cidr", "10.9.0.0/16", check=False)
    assert dup.returncode != 0 and "InvalidPermission.Duplicate" in dup.stderr
    cloud.aws("ec2", "revoke-security-group-ingress", "--group-id", gid, "--protocol", "tcp",
              "--port", "22", "--cidr", "10.9.0.0/16")
    cloud.aws("ec2", "delete-security-group", "--group-id", gid)


def test_first_use_by_many_requests_at_once_makes_one_default_group(cloud: LiveCloud) -> None:
    """A new account's first requests race to make its default group: every one succeeds
    and the account ends with exactly one."""
    from concurrent.futures import ThreadPoolExecutor

    key, secret, _ = second_account(cloud, f"race{secrets.token_hex(4)}")
    ec2 = cloud.client("ec2", access_key=key, secret_key=secret)

    def create(i: int) -> str:
        return str(ec2.create_security_group(GroupName=f"race-{i}",
                                             Description="racing")["GroupId"])

    with ThreadPoolExecutor(12) as pool:
        made = list(pool.map(create, range(12)))
    assert len(set(made)) == 12
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups].count("default") == 1
    assert len(groups) == 13
