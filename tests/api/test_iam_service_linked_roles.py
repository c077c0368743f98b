"""Service-linked roles through boto3: create (path, name, trust), delete as a task and
its status (FAILED while an instance profile holds the role)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def test_service_linked_role_create_delete(cloud: LiveCloud) -> None:
    iam = cloud.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com",
                                          Description="for ELB")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"
    assert role["Path"] == "/aws-service-role/elasticloadbalancing.amazonaws.com/"
    doc = role["AssumeRolePolicyDocument"]
    trust = doc if isinstance(doc, dict) else json.loads(unquote(doc))
    assert trust["Statement"][0]["Principal"] == {
        "Service": ["elasticloadbalancing.amazonaws.com"]}
    with pytest.raises(ClientError) as err:
        iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")
    assert err.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(ClientError) as err:
        iam.create_service_linked_role(AWSServiceName="not a service")
    assert err.value.response["Error"]["Code"] == "InvalidInput"
    suffixed = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com",
                                              CustomSuffix="web")["Role"]["RoleName"]
    assert suffixed == "AWSServiceRoleForAutoScaling_web"
    # in use by an instance profile: the deletion task fails, the role stays
    iam.create_instance_profile(InstanceProfileName="slr-holder")
    iam.add_role_to_instance_profile(InstanceProfileName="slr-holder", RoleName=suffixed)
    task = iam.delete_service_linked_role(RoleName=suffixed)["DeletionTaskId"]
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "FAILED" and status["Reason"]["RoleUsageList"]
    iam.get_role(RoleName=suffixed)
    iam.remove_role_from_instance_profile(InstanceProfileName="slr-holder", RoleName=suffixed)
    iam.delete_instance_profile(InstanceProfileName="slr-holder")
    for name in (suffixed, "AWSServiceRoleForElasticLoadBalancing"):
        task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
        assert iam.get_service_linked_role_deletion_status(
            DeletionTaskId=task)["Status"] == "SUCCEEDED"
        with pytest.raises(ClientError) as err:
            iam.get_role(RoleName=name)
        assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    # an ordinary role is not deleted through this call
    iam.create_role(RoleName="plain-not-slr", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    with pytest.raises(ClientError) as err:
        iam.delete_service_linked_role(RoleName="plain-not-slr")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as err:
        iam.get_service_linked_role_deletion_status(DeletionTaskId="task/none")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
