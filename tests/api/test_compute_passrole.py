"""``iam:PassRole`` at RunInstances: handing an instance profile's role to an instance.

An IAM user allowed only ``ec2:RunInstances`` must not launch an instance carrying an
administrator role (its metadata credentials would be the role's): RunInstances
answers ``UnauthorizedOperation`` naming ``iam:PassRole`` on the role ARN, and no
instance is made. With ``iam:PassRole`` on that role the same call succeeds.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.api.test_ec2_policies import denied, user_ec2
from tests.support import LiveCloud

RUN = {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def _admin_profile(cloud: LiveCloud) -> tuple[str, str]:
    """(profile name, role ARN) of a new profile holding an AdministratorAccess role."""
    iam = cloud.client("iam")
    suffix = uuid.uuid4().hex[:8]
    role = iam.create_role(RoleName=f"admin-{suffix}",
                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                "Resource": "*"}]}))
    name = f"prof-{suffix}"
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    return name, str(role["Arn"])


def _instances(cloud: LiveCloud) -> set[str]:
    out = cloud.client("ec2").describe_instances()["Reservations"]
    return {i["InstanceId"] for r in out for i in r["Instances"]}


def test_run_instances_requires_pass_role(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    image = register_image_set(cloud, cloud.data_dir / f"pr-{uuid.uuid4().hex[:6]}")
    profile, role_arn = _admin_profile(cloud)
    launch: dict[str, Any] = {"ImageId": image["emi"], "MinCount": 1, "MaxCount": 1,
                              "InstanceType": "t1.micro",
                              "IamInstanceProfile": {"Name": profile}}
    before = _instances(cloud)
    only_run = user_ec2(cloud, RUN)
    decoded = denied(cloud, only_run.run_instances, **launch)
    assert decoded["context"]["action"] == "iam:PassRole"
    assert decoded["context"]["resource"] == role_arn
    assert _instances(cloud) == before  # nothing launched
    # a dry run is refused exactly as the launch would be, and allowed once PassRole is
    decoded = denied(cloud, only_run.run_instances, DryRun=True, **launch)
    assert decoded["context"]["action"] == "iam:PassRole"

    other_role = user_ec2(cloud, RUN, {"Effect": "Allow", "Action": "iam:PassRole",
                                       "Resource": role_arn + "-other"})
    denied(cloud, other_role.run_instances, **launch)
    assert _instances(cloud) == before

    may_pass = user_ec2(cloud, RUN, {"Effect": "Allow", "Action": "iam:PassRole",
                                     "Resource": role_arn})
    with pytest.raises(ClientError) as dry:
        may_pass.run_instances(DryRun=True, **launch)
    assert dry.value.response["Error"]["Code"] == "DryRunOperation"
    assert _instances(cloud) == before
    inst = may_pass.run_instances(**launch)["Instances"][0]
    assert inst["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{profile}")
    may_pass.run_instances(ImageId=image["emi"], MinCount=1, MaxCount=1)  # no role: no check
    cloud.client("ec2").terminate_instances(InstanceIds=list(_instances(cloud) - before))
