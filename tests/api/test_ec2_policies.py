"""IAM policies scoping EC2 permissions by resource ARN and ``ec2:ResourceTag``.

Real requests through the server: the account admin creates instances (on the fake
local node), volumes and security groups; IAM users with narrow policies call EC2
and get through, or ``UnauthorizedOperation`` with an encoded message that STS
DecodeAuthorizationMessage opens.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.api.test_ebs_flows import FAST, zone_of
from tests.support import LiveCloud

DESCRIBE = {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}


def arn(cloud: LiveCloud, kind: str, name: str) -> str:
    owner = "" if kind in ("image", "snapshot") else cloud.account_id
    return f"arn:aws:ec2:{cloud.region}:{owner}:{kind}/{name}"


def user_ec2(cloud: LiveCloud, *statements: dict[str, Any]) -> Any:
    """The EC2 client of a new IAM user whose only policy has ``statements``."""
    iam = cloud.client("iam")
    name = f"ec2p-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return cloud.client("ec2", access_key=key["AccessKeyId"],
                        secret_key=key["SecretAccessKey"])


def denied(cloud: LiveCloud, call: Any, **kwargs: Any) -> dict[str, Any]:
    """Assert ``call`` is refused with UnauthorizedOperation; the decoded message."""
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    assert err.value.response["Error"]["Code"] == "UnauthorizedOperation", err.value.response
    encoded = err.value.response["Error"]["Message"].split("message: ", 1)[1]
    decoded = cloud.client("sts").decode_authorization_message(EncodedMessage=encoded)
    out: dict[str, Any] = json.loads(decoded["DecodedMessage"])
    assert out["allowed"] is False
    return out


@pytest.fixture(scope="module")
def launched(cloud: LiveCloud) -> dict[str, Any]:
    """Four running instances (two tagged team=blue, two team=red) and their image."""
    ec2 = cloud.client("ec2")
    image = register_image_set(cloud, cloud.data_dir / f"pol-imgs-{uuid.uuid4().hex[:6]}")
    ids: dict[str, list[str]] = {}
    for team in ("blue", "red"):
        res = ec2.run_instances(ImageId=image["emi"], MinCount=2, MaxCount=2,
                                InstanceType="t1.micro", TagSpecifications=[{
                                    "ResourceType": "instance",
                                    "Tags": [{"Key": "team", "Value": team}]}])
        ids[team] = [i["InstanceId"] for i in res["Instances"]]
    every = ids["blue"] + ids["red"]
    wait_for(lambda: set(states(cloud, every).values()) == {"running"}, timeout=60)
    return {"image": image, **ids}


def test_terminate_scoped_to_one_instance(cloud: LiveCloud, launched: dict[str, Any]) -> None:
    one, other = launched["red"]
    ec2 = user_ec2(cloud, DESCRIBE, {"Effect": "Allow", "Action": "ec2:TerminateInstances",
                                     "Resource": arn(cloud, "instance", one)})
    decoded = denied(cloud, ec2.terminate_instances, InstanceIds=[other])
    assert decoded["context"]["action"] == "ec2:TerminateInstances"
    assert decoded["context"]["resource"] == arn(cloud, "instance", other)
    denied(cloud, ec2.terminate_instances, InstanceIds=[one, other])  # every id must be allowed
    assert states(cloud, [other])[other] == "running"
    ec2.terminate_instances(InstanceIds=[one])
    wait_for(lambda: states(cloud, [one])[one] in ("shutting-down", "terminated"))
    ec2.describe_instances(InstanceIds=[other])


def test_resource_tag_condition(cloud: LiveCloud, launched: dict[str, Any]) -> None:
    blue, red = launched["blue"][0], launched["red"][1]
    ec2 = user_ec2(cloud, DESCRIBE, {
        "Effect": "Allow", "Action": ["ec2:StopInstances", "ec2:TerminateInstances"],
        "Resource": "*", "Condition": {"StringEquals": {"ec2:ResourceTag/team": "blue"}}})
    denied(cloud, ec2.stop_instances, InstanceIds=[red])
    denied(cloud, ec2.terminate_instances, InstanceIds=[red])
    denied(cloud, ec2.stop_instances, InstanceIds=[blue, red])
    denied(cloud, ec2.start_instances, InstanceIds=[blue])  # not in the policy
    with pytest.raises(ClientError) as err:  # allowed: the provider answers (instance-store)
        ec2.stop_instances(InstanceIds=[blue])
    assert err.value.response["Error"]["Code"] == "UnsupportedOperation"
    ec2.terminate_instances(InstanceIds=[blue])
    assert states(cloud, [red])[red] == "running"
    # aws:ResourceTag works too; an untagged key does not match
    other = user_ec2(cloud, DESCRIBE, {
        "Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/owner": "me"}}})
    denied(cloud, other.terminate_instances, InstanceIds=[red])


def test_run_instances_scoped_to_image(cloud: LiveCloud, launched: dict[str, Any]) -> None:
    image = launched["image"]["emi"]
    ec2 = user_ec2(cloud, DESCRIBE, {
        "Effect": "Allow", "Action": "ec2:RunInstances",
        "Resource": [f"arn:aws:ec2:*::image/{launched['image']['eki']}",
                     f"arn:aws:ec2:*:{cloud.account_id}:instance/*"]})
    decoded = denied(cloud, ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1,
                     InstanceType="t1.micro")
    assert decoded["context"]["action"] == "ec2:RunInstances"


def test_delete_volume_scoped(cloud: LiveCloud) -> None:
    admin = cloud.client("ec2")
    zone = zone_of(cloud)
    keep, drop = (admin.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
                  for _ in range(2))
    admin.get_waiter("volume_available").wait(VolumeIds=[keep, drop], WaiterConfig=FAST)
    ec2 = user_ec2(cloud, DESCRIBE, {"Effect": "Allow", "Action": "ec2:DeleteVolume",
                                     "Resource": arn(cloud, "volume", drop)})
    decoded = denied(cloud, ec2.delete_volume, VolumeId=keep)
    assert decoded["context"]["resource"] == arn(cloud, "volume", keep)
    ec2.delete_volume(VolumeId=drop)
    admin.get_waiter("volume_deleted").wait(VolumeIds=[drop], WaiterConfig=FAST)
    admin.delete_volume(VolumeId=keep)


def test_explicit_deny_on_security_group(cloud: LiveCloud) -> None:
    admin = cloud.client("ec2")
    tag = uuid.uuid4().hex[:6]
    guarded = admin.create_security_group(GroupName=f"guarded-{tag}", Description="g")["GroupId"]
    free = admin.create_security_group(GroupName=f"free-{tag}", Description="f")["GroupId"]
    ec2 = user_ec2(cloud, {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                   {"Effect": "Deny", "Action": "ec2:AuthorizeSecurityGroupIngress",
                    "Resource": arn(cloud, "security-group", guarded)})
    rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    decoded = denied(cloud, ec2.authorize_security_group_ingress, GroupId=guarded,
                     IpPermissions=[rule])
    assert decoded["explicitDeny"] is True
    # naming the group by name does not get around the deny
    denied(cloud, ec2.authorize_security_group_ingress, GroupName=f"guarded-{tag}",
           IpPermissions=[rule])
    ec2.authorize_security_group_ingress(GroupId=free, IpPermissions=[rule])
    ec2.revoke_security_group_ingress(GroupId=free, IpPermissions=[rule])
    ec2.delete_security_group(GroupId=free)


def test_describe_with_star(cloud: LiveCloud, launched: dict[str, Any]) -> None:
    ec2 = user_ec2(cloud, DESCRIBE)
    found = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
             for i in r["Instances"]}
    assert set(launched["red"]) <= found
    ec2.describe_volumes()
    ec2.describe_security_groups()
    ec2.describe_images(Owners=["self"])
    ec2.describe_tags()
    denied(cloud, ec2.create_security_group, GroupName="nope", Description="n")
    # Describe* stays on "*": a policy naming one instance ARN does not allow it
    scoped = user_ec2(cloud, {"Effect": "Allow", "Action": "ec2:DescribeInstances",
                              "Resource": arn(cloud, "instance", launched["red"][1])})
    denied(cloud, scoped.describe_instances)


def test_region_condition_keys(cloud: LiveCloud) -> None:
    here = user_ec2(cloud, {"Effect": "Allow", "Action": "ec2:DescribeRegions", "Resource": "*",
                            "Condition": {"StringEquals": {"ec2:Region": cloud.region,
                                                           "aws:RequestedRegion": cloud.region}}})
    here.describe_regions()
    elsewhere = user_ec2(cloud, {"Effect": "Allow", "Action": "ec2:DescribeRegions",
                                 "Resource": "*",
                                 "Condition": {"StringEquals": {"ec2:Region": "mars-1"}}})
    denied(cloud, elsewhere.describe_regions)


def test_tags_and_key_pairs_scoped(cloud: LiveCloud, launched: dict[str, Any]) -> None:
    admin = cloud.client("ec2")
    mine, theirs = launched["red"][1], launched["blue"][1]
    ec2 = user_ec2(cloud, DESCRIBE, {
        "Effect": "Allow", "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
        "Resource": arn(cloud, "instance", mine)}, {
        "Effect": "Allow", "Action": "ec2:DeleteKeyPair",
        "Resource": arn(cloud, "key-pair", "ok-*")})
    ec2.create_tags(Resources=[mine], Tags=[{"Key": "seen", "Value": "1"}])
    decoded = denied(cloud, ec2.create_tags, Resources=[mine, theirs],
                     Tags=[{"Key": "seen", "Value": "1"}])
    assert decoded["context"]["action"] == "ec2:CreateTags"
    ec2.delete_tags(Resources=[mine], Tags=[{"Key": "seen"}])
    tag = uuid.uuid4().hex[:6]
    admin.create_key_pair(KeyName=f"ok-{tag}")
    other = admin.create_key_pair(KeyName=f"no-{tag}")
    denied(cloud, ec2.delete_key_pair, KeyName=f"no-{tag}")
    # by KeyPairId: resolved to its name, so the scope holds
    denied(cloud, ec2.delete_key_pair, KeyPairId=other["KeyPairId"])
    ec2.delete_key_pair(KeyName=f"ok-{tag}")
    admin.delete_key_pair(KeyName=f"no-{tag}")
