"""The network side of instances on the all-in-one fake node, through boto3: NICs from
the EDGE configuration, public IPs from the pool, security groups, what
DescribeInstances shows, release at termination, and instance profile credentials
served by the metadata service (over its Unix socket, as netd's proxy reaches it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set, wait_for
from tests.api.test_compute_metadata import md
from tests.support import LiveCloud


@pytest.fixture
def net_cloud(crash_shared: LiveCloud) -> LiveCloud:
    """A cloud on the fake node where no other test's instance runs while these do (the
    counts of ``cloudctl network show`` are compared): the shared cloud of the
    consecutive tests taking ``crash_shared`` (tests/api/conftest.py)."""
    return crash_shared


_IMAGES: dict[str, dict[str, str]] = {}


@pytest.fixture
def images(net_cloud: LiveCloud) -> dict[str, str]:
    """The module's image set, registered once in the cloud."""
    key = str(net_cloud.data_dir)
    if key not in _IMAGES:
        _IMAGES[key] = register_image_set(net_cloud, net_cloud.data_dir / "net-imgs")
    return _IMAGES[key]


def _show(cloud: LiveCloud) -> dict[str, Any]:
    return dict(json.loads(cloud.cli("--output", "json", "network", "show").stdout))


def _describe(cloud: LiveCloud, ids: list[str]) -> dict[str, dict[str, Any]]:
    out = cloud.client("ec2").describe_instances(InstanceIds=ids)
    return {i["InstanceId"]: i for r in out["Reservations"] for i in r["Instances"]}


def test_nics_public_ips_groups_and_release(net_cloud: LiveCloud,
                                            images: dict[str, str]) -> None:
    ec2 = net_cloud.client("ec2")
    before = _show(net_cloud)
    gid = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    res = ec2.run_instances(ImageId=images["emi"], MinCount=2, MaxCount=2,
                            SecurityGroups=["web"])
    ids = [i["InstanceId"] for i in res["Instances"]]
    seen = _describe(net_cloud, ids)
    ips = set()
    for iid in ids:
        for shape in (seen[iid], next(i for i in res["Instances"] if i["InstanceId"] == iid)):
            ip = shape["PrivateIpAddress"]
            assert ip.startswith("10.111.")
            mac = shape["NetworkInterfaces"][0]["MacAddress"]
            assert mac == "d0:0d:" + ":".join(f"{int(o):02x}" for o in ip.split("."))
            assert shape["PublicIpAddress"].startswith("198.51.100.")
            assert shape["PrivateDnsName"] == f"euca-{ip.replace('.', '-')}.eucalyptus.internal"
            pub = shape["PublicIpAddress"].replace(".", "-")
            assert shape["PublicDnsName"] == f"euca-{pub}.eucalyptus.localhost"
            assert shape["SecurityGroups"] == [{"GroupId": gid, "GroupName": "web"}]
            assert shape["NetworkInterfaces"][0]["Association"]["PublicIp"] == \
                shape["PublicIpAddress"]
        ips.add(seen[iid]["PrivateIpAddress"])
    assert len(ips) == 2
    by_group = ec2.describe_instances(Filters=[{"Name": "instance.group-name",
                                                "Values": ["web"]}])
    assert {i["InstanceId"] for r in by_group["Reservations"] for i in r["Instances"]} == \
        set(ids)
    shown = _show(net_cloud)
    assert shown["instances"] == before["instances"] + 2
    assert shown["public_ips_in_use"] == before["public_ips_in_use"] + 2
    # an elastic IP replaces the launch address, DescribeInstances follows it
    eip = ec2.allocate_address()
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=ids[0])
    assert _describe(net_cloud, [ids[0]])[ids[0]]["PublicIpAddress"] == eip["PublicIp"]
    private0 = seen[ids[0]]["PrivateIpAddress"]
    assert md(net_cloud, private0, "/latest/meta-data/public-ipv4") == (
        200, eip["PublicIp"].encode())
    # unknown groups are refused before anything is allocated
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                          SecurityGroups=["nope"])
    assert exc.value.response["Error"]["Code"] == "InvalidGroup.NotFound"
    ec2.terminate_instances(InstanceIds=ids)
    wait_for(lambda: all(i["State"]["Name"] == "terminated"
                         for i in _describe(net_cloud, ids).values()))
    after = _show(net_cloud)
    assert after["instances"] == before["instances"]
    # the elastic IP stays allocated (disassociated), the launch address went back
    assert after["public_ips_in_use"] == before["public_ips_in_use"] + 1
    addr = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert "InstanceId" not in addr
    ec2.release_address(AllocationId=eip["AllocationId"])
    gone = _describe(net_cloud, ids)
    assert all("PrivateIpAddress" not in i and "PublicIpAddress" not in i
               for i in gone.values())
    ec2.delete_security_group(GroupId=gid)  # no member left


def test_instance_profile_credentials(net_cloud: LiveCloud, images: dict[str, str]) -> None:
    ec2, iam = net_cloud.client("ec2"), net_cloud.client("iam")
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                          IamInstanceProfile={"Name": "missing"})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="reader", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]}))
    profile = iam.create_instance_profile(InstanceProfileName="prof")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="prof", RoleName="reader")
    inst = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                             IamInstanceProfile={"Arn": profile["Arn"]})["Instances"][0]
    iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    assert inst["IamInstanceProfile"] == {"Arn": profile["Arn"],
                                          "Id": profile["InstanceProfileId"]}
    base = "/latest/meta-data/iam"
    wait_for(lambda: md(net_cloud, ip, f"{base}/security-credentials/")[0] == 200)
    assert md(net_cloud, ip, f"{base}/security-credentials/") == (200, b"reader")
    info = json.loads(md(net_cloud, ip, f"{base}/info")[1])
    assert info["InstanceProfileId"] == profile["InstanceProfileId"]
    creds = json.loads(md(net_cloud, ip, f"{base}/security-credentials/reader")[1])
    assert set(creds) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                          "Token", "Expiration"}
    assert json.loads(md(net_cloud, ip, f"{base}/security-credentials/reader")[1]) == creds
    keys = {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
            "token": creds["Token"]}
    sts = net_cloud.client("sts", **keys)
    assert sts.get_caller_identity()["Arn"].endswith(f":assumed-role/reader/{iid}")
    role_ec2 = net_cloud.client("ec2", **keys)
    role_ec2.describe_instances(InstanceIds=[iid])
    with pytest.raises(ClientError):
        role_ec2.terminate_instances(InstanceIds=[iid])
    with pytest.raises(ClientError):
        net_cloud.client("iam", **keys).list_roles()
    # the role leaves the profile: no more credentials
    iam.remove_role_from_instance_profile(InstanceProfileName="prof", RoleName="reader")
    assert md(net_cloud, ip, f"{base}/security-credentials/reader")[0] == 404
    ec2.terminate_instances(InstanceIds=[iid])
