"""kill -9 the cloud while the stack engine creates a stack and while it deletes it:
after a restart on the same data directory the stack resumes and ends in a terminal
status, with exactly the resources its template names (none doubled, none orphaned)."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator

import pytest

from tests.api.cfn_helpers import body, events, physical, settle, unique
from tests.support import LiveCloud, new_cloud

GROUPS, BUCKETS, USERS, VMS = 6, 4, 4, 3


@pytest.fixture
def crash_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveCloud]:
    monkeypatch.setenv("CLOUDCTL_LOCAL_NODE", "fake")
    cloud = new_cloud()
    try:
        cloud.start()
        yield cloud
    finally:
        cloud.stop()


def _template(image: str) -> str:
    resources: dict[str, object] = {}
    for i in range(GROUPS):
        resources[f"G{i}"] = {"Type": "AWS::EC2::SecurityGroup",
                              "Properties": {"GroupDescription": f"g{i}"}}
    for i in range(BUCKETS):
        resources[f"B{i}"] = {"Type": "AWS::S3::Bucket"}
    for i in range(USERS):
        resources[f"U{i}"] = {"Type": "AWS::IAM::User"}
    for i in range(VMS):
        resources[f"V{i}"] = {"Type": "AWS::EC2::Instance", "Properties": {
            "ImageId": image, "InstanceType": "t1.micro",
            "SecurityGroupIds": [{"Fn::GetAtt": [f"G{i}", "GroupId"]}]}}
    return body({"Resources": resources})


def _world(cloud: LiveCloud, name: str) -> dict[str, int]:
    prefix = f"{name}-"
    groups = [g for g in cloud.client("ec2").describe_security_groups()["SecurityGroups"]
              if g["GroupName"].startswith(prefix)]
    buckets = [b for b in cloud.client("s3").list_buckets()["Buckets"]
               if b["Name"].startswith(prefix.lower())]
    users = [u for u in cloud.client("iam").list_users()["Users"]
             if u["UserName"].startswith(prefix)]
    reservations = cloud.client("ec2").describe_instances()["Reservations"]
    vms = [i for r in reservations for i in r["Instances"]
           if i["State"]["Name"] not in ("terminated", "shutting-down")]
    return {"groups": len(groups), "buckets": len(buckets), "users": len(users),
            "vms": len(vms)}


def _wait_for_progress(cloud: LiveCloud, name: str, completed: int) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        done = [e for e in events(cloud, name) if e["ResourceStatus"] == "CREATE_COMPLETE"]
        if len(done) >= completed:
            return
        time.sleep(0.05)
    raise AssertionError("the stack made no progress")


def test_kill_9_during_create_and_delete_resumes(crash_cloud: LiveCloud) -> None:
    cloud = crash_cloud
    images = cloud.client("ec2").describe_images()["Images"]
    image = [i for i in images if i["ImageId"].startswith("emi-")][0]["ImageId"]
    cf = cloud.client("cloudformation")
    name = unique("crash")
    stack_id = cf.create_stack(StackName=name, TemplateBody=_template(image),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    _wait_for_progress(cloud, name, 3)
    cloud.stop(signal.SIGKILL)
    cloud.start()
    stack = settle(cloud, stack_id, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    assert _world(cloud, name) == {"groups": GROUPS, "buckets": BUCKETS, "users": USERS,
                                   "vms": VMS}
    completed = [e["LogicalResourceId"] for e in events(cloud, name)
                 if e["ResourceStatus"] == "CREATE_COMPLETE" and e["LogicalResourceId"] != name]
    assert sorted(completed) == sorted(set(completed))  # each resource completed once
    cf.delete_stack(StackName=name)
    deadline = time.time() + 30
    while not any(e["ResourceStatus"] == "DELETE_COMPLETE" for e in events(cloud, stack_id)):
        assert time.time() < deadline
        time.sleep(0.05)
    cloud.stop(signal.SIGKILL)
    cloud.start()
    assert settle(cloud, stack_id, timeout=120)["StackStatus"] == "DELETE_COMPLETE"
    assert _world(cloud, name) == {"groups": 0, "buckets": 0, "users": 0, "vms": 0}


VPC_PARTS = {"Net": ("describe_vpcs", "Vpcs", "VpcId"),
             "Sub": ("describe_subnets", "Subnets", "SubnetId"),
             "Gw": ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
             "Routes": ("describe_route_tables", "RouteTables", "RouteTableId"),
             "Acl": ("describe_network_acls", "NetworkAcls", "NetworkAclId"),
             "Dhcp": ("describe_dhcp_options", "DhcpOptions", "DhcpOptionsId")}


def test_vpc_objects_made_before_a_crash_are_adopted(crash_cloud: LiveCloud) -> None:
    """The crash window of a VPC-type create (made, not yet recorded) reproduced exactly:
    after a kill -9 the rows are put back to "creating, no physical id" and the cloud
    restarted; the resumed creates adopt the objects they made instead of doubling them
    (their EC2 create calls take no ClientToken)."""
    cloud = crash_cloud
    cf, ec2c = cloud.client("cloudformation"), cloud.client("ec2")
    net = {"Ref": "Net"}
    template = {"Resources": {
        "Net": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.30.0.0/16"}},
        "Sub": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": net,
                                                           "CidrBlock": "10.30.1.0/24"}},
        "Gw": {"Type": "AWS::EC2::InternetGateway"},
        "Routes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": net}},
        "Acl": {"Type": "AWS::EC2::NetworkAcl", "Properties": {"VpcId": net}},
        "Dhcp": {"Type": "AWS::EC2::DHCPOptions", "Properties": {
            "DomainName": "example.internal", "DomainNameServers": ["AmazonProvidedDNS"]}}}}
    name = unique("adopt")
    stack_id = cf.create_stack(StackName=name, TemplateBody=body(template))["StackId"]
    assert settle(cloud, stack_id)["StackStatus"] == "CREATE_COMPLETE"
    made = {logical: physical(cloud, name, logical) for logical in VPC_PARTS}
    cloud.stop(signal.SIGKILL)
    with sqlite3.connect(cloud.data_dir / "cloud.db", timeout=10) as db:
        db.execute("UPDATE cfn_stacks SET status = 'CREATE_IN_PROGRESS', outputs = '[]' "
                   "WHERE stack_id = ?", (stack_id,))
        db.execute("UPDATE cfn_stack_resources SET status = 'CREATE_IN_PROGRESS', "
                   "physical_id = NULL, attributes = '{}', step = 'create', attempts = 1 "
                   "WHERE stack_id = ?", (stack_id,))
    cloud.start()
    assert settle(cloud, stack_id, timeout=60)["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    assert {logical: physical(cloud, name, logical) for logical in VPC_PARTS} == made
    for logical, (describe, items, key) in VPC_PARTS.items():
        found = getattr(ec2c, describe)(Filters=[
            {"Name": "tag:aws:cloudformation:stack-id", "Values": [stack_id]},
            {"Name": "tag:aws:cloudformation:logical-id", "Values": [logical]}])[items]
        assert [item[key] for item in found] == [made[logical]]
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
