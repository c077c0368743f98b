"""Security group rule descriptions: the Update* calls through boto3 and Ansible.

`amazon.aws.ec2_security_group` changes a description in place with
UpdateSecurityGroupRuleDescriptionsIngress/Egress; a second run of the same
playbook must report nothing changed.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.infra.playbooks import run_playbook
from tests.support import LiveCloud


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _rules(ec2: Any, gid: str) -> dict[tuple[bool, str], str]:
    out: dict[tuple[bool, str], str] = {}
    for r in ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]:
        peer = r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"]
        out[(r["IsEgress"], f"{r['IpProtocol']}:{r['FromPort']}:{peer}")] = r["Description"]
    return out


def test_update_descriptions_by_permission_and_rule_id(sqlite_cloud: LiveCloud) -> None:
    ec2 = sqlite_cloud.client("ec2")
    gid = ec2.create_security_group(GroupName=f"d-{secrets.token_hex(4)}",
                                    Description="d")["GroupId"]
    src = ec2.create_security_group(GroupName=f"s-{secrets.token_hex(4)}",
                                    Description="d")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "old"}],
         "UserIdGroupPairs": [{"GroupId": src}]}])
    ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "new ssh"}],
         "UserIdGroupPairs": [{"GroupId": src, "Description": "peers"}]}])
    rules = _rules(ec2, gid)
    assert rules[(False, "tcp:22:10.0.0.0/8")] == "new ssh"
    assert rules[(False, f"tcp:22:{src}")] == "peers"
    # no description given: the description is removed
    ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": src}]}])
    assert _rules(ec2, gid)[(False, f"tcp:22:{src}")] == ""
    egress_id = next(r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"] if r["IsEgress"])
    ec2.update_security_group_rule_descriptions_egress(
        GroupId=gid, SecurityGroupRuleDescriptions=[
            {"SecurityGroupRuleId": egress_id, "Description": "all out"}])
    assert _rules(ec2, gid)[(True, "-1:-1:0.0.0.0/0")] == "all out"
    perms = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"]
    assert perms[0]["IpRanges"] == [{"CidrIp": "10.0.0.0/8", "Description": "new ssh"}]
    # unknown rules: nothing changes
    with pytest.raises(ClientError) as exc:
        ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "x"}]},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "x"}]}])
    assert _code(exc) == "InvalidPermission.NotFound"
    assert _rules(ec2, gid)[(False, "tcp:22:10.0.0.0/8")] == "new ssh"
    with pytest.raises(ClientError) as exc:  # an egress rule id is no ingress rule
        ec2.update_security_group_rule_descriptions_ingress(
            GroupId=gid, SecurityGroupRuleDescriptions=[
                {"SecurityGroupRuleId": egress_id, "Description": "x"}])
    assert _code(exc) == "InvalidSecurityGroupRuleId.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "caf\u00e9"}]}])
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.update_security_group_rule_descriptions_egress(GroupId=gid)
    assert _code(exc) == "MissingParameter"
    with pytest.raises(ClientError) as exc:
        ec2.update_security_group_rule_descriptions_egress(
            GroupId="sg-0123456789abcdef0", SecurityGroupRuleDescriptions=[
                {"SecurityGroupRuleId": egress_id, "Description": "x"}])
    assert _code(exc) == "InvalidGroup.NotFound"


def _playbook(cloud: LiveCloud, path: Path, name: str, ssh_description: str) -> dict[str, Any]:
    path.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "the group", "register": "sg", "amazon.aws.ec2_security_group": {
            "name": name, "description": "web servers", "endpoint_url": cloud.endpoint,
            "region": cloud.region, "purge_rules_egress": False,
            "rules": [{"proto": "tcp", "ports": [22], "cidr_ip": "10.0.0.0/8",
                       "rule_desc": ssh_description},
                      {"proto": "tcp", "ports": [80, 443], "cidr_ip": "0.0.0.0/0",
                       "rule_desc": "web"}]}},
                  {"name": "result", "ansible.builtin.debug": {"var": "sg.changed"}}]}]))
    run = run_playbook(cloud, path, timeout=300, ANSIBLE_STDOUT_CALLBACK="json")
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert isinstance(result, dict)
    return result


def test_ansible_changes_only_a_rule_description(sqlite_cloud: LiveCloud,
                                                 tmp_path: Path) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    name = f"ans-{secrets.token_hex(4)}"
    assert _playbook(cloud, tmp_path / "create.yml", name, "ssh")["changed"] is True
    gid = ec2.describe_security_groups(GroupNames=[name])["SecurityGroups"][0]["GroupId"]
    before = {k: v for k, v in _rules(ec2, gid).items() if not k[0]}
    assert before[(False, "tcp:22:10.0.0.0/8")] == "ssh"
    ids = {r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]}
    assert _playbook(cloud, tmp_path / "describe.yml", name, "ssh from the VPN")["changed"]
    after = _rules(ec2, gid)
    assert after[(False, "tcp:22:10.0.0.0/8")] == "ssh from the VPN"
    assert after[(False, "tcp:80:0.0.0.0/0")] == "web"
    # changed in place: the same rules, no revoke and re-authorize
    assert ids == {r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]}
    assert _playbook(cloud, tmp_path / "again.yml", name, "ssh from the VPN")["changed"] is False
