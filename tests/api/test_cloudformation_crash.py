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
from tests.support import LiveCloud, new_cloud, wait_for

GROUPS, BUCKETS, USERS, VMS = 6, 4, 4, 3


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[LiveCloud]:
    """One cloud for the module: each test kills it and starts it again on the same data
    directory, and each leaves no live resource of its own behind (the counts of
    ``_world`` are of the whole cloud, so a stack's doubled or orphaned resource shows
    whatever tagged it)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLOUDCTL_LOCAL_NODE", "fake")
        cloud = new_cloud()
        try:
            cloud.start()
            # the tests' instances use the demo image set, registered in the background
            # after the cloud serves: a test reading DescribeImages at once could miss it
            wait_for(lambda: any(i["ImageId"].startswith("emi-") for i in
                                 cloud.client("ec2").describe_images()["Images"]), 60,
                     "the demo image set")
            yield cloud
        finally:
            cloud.stop()


@pytest.fixture
def crash_cloud(module_cloud: LiveCloud) -> LiveCloud:
    """The module's cloud, running (started again if a failed test left it killed)."""
    if module_cloud.process is None or module_cloud.process.poll() is not None:
        module_cloud.start()
    return module_cloud


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


def _update_template(image: str, version: str, vms: int, *, fail_with: str = "") -> str:
    """Groups whose description is ``version`` (a new one replaces each group), users, and
    ``vms`` instances in those groups (the ``V``s; ``fail_with``: also ``W``s and a
    bucket of that taken name made after them, which fails)."""
    resources: dict[str, object] = {}
    for i in range(GROUPS):
        resources[f"G{i}"] = {"Type": "AWS::EC2::SecurityGroup",
                              "Properties": {"GroupDescription": f"g{i} {version}"}}
    for i in range(USERS):
        resources[f"U{i}"] = {"Type": "AWS::IAM::User"}
    prefixes = ("V", "W") if fail_with else ("V",)
    for prefix in prefixes:
        for i in range(vms):
            resources[f"{prefix}{i}"] = {"Type": "AWS::EC2::Instance", "Properties": {
                "ImageId": image, "InstanceType": "t1.micro",
                "SecurityGroupIds": [{"Fn::GetAtt": [f"G{i}", "GroupId"]}]}}
    if fail_with:
        resources["Taken"] = {"Type": "AWS::S3::Bucket", "DependsOn": [f"W{i}" for i in
                                                                       range(vms)],
                              "Properties": {"BucketName": fail_with}}
    return body({"Resources": resources})


ROLLING_BACK = ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")


def _group_descriptions(cloud: LiveCloud, name: str) -> list[str]:
    return sorted(g["Description"] for g in cloud.client("ec2").describe_security_groups()[
        "SecurityGroups"] if g["GroupName"].startswith(f"{name}-"))


def _physicals(cloud: LiveCloud, name: str) -> dict[str, str]:
    found = cloud.client("cloudformation").describe_stack_resources(StackName=name)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in found["StackResources"]}


def test_kill_9_during_update_and_during_its_rollback_resumes(crash_cloud: LiveCloud) -> None:
    """An update replacing every group and adding instances, killed -9 part way: after
    the restart it completes (the new groups only, the old ones deleted in cleanup, the
    instances once). A failing update (a taken bucket name after new instances) killed
    -9 while it rolls back (or cleans up after the rollback): after the restart the
    rollback completes and the world is the previous template's again (its groups and
    instances, nothing of the failed update: no new group, instance or user left). A resource the failed update
    replaced is the previous one again, and so are its dependents' references to it."""
    cloud = crash_cloud
    image = [i for i in cloud.client("ec2").describe_images()["Images"]
             if i["ImageId"].startswith("emi-")][0]["ImageId"]
    cf = cloud.client("cloudformation")
    name = unique("crashupd")
    stack_id = cf.create_stack(StackName=name, TemplateBody=_update_template(image, "v1", 0),
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    assert settle(cloud, stack_id)["StackStatus"] == "CREATE_COMPLETE"
    before = len(events(cloud, stack_id))

    # the update, killed once a few of its resources are done
    cf.update_stack(StackName=name, TemplateBody=_update_template(image, "v2", VMS),
                    Capabilities=["CAPABILITY_IAM"])
    deadline = time.time() + 60
    while len([e for e in events(cloud, stack_id)[before:]
               if e["ResourceStatus"] == "CREATE_COMPLETE"]) < 3:
        assert time.time() < deadline, "the update made no progress"
        time.sleep(0.05)
    cloud.stop(signal.SIGKILL)
    cloud.start()
    stack = settle(cloud, stack_id, timeout=120)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason"))
        for e in events(cloud, stack_id) if e["ResourceStatus"].endswith("FAILED")]
    assert _group_descriptions(cloud, name) == sorted(f"g{i} v2" for i in range(GROUPS))
    assert _world(cloud, name) == {"groups": GROUPS, "buckets": 0, "users": USERS,
                                   "vms": VMS}
    updated = _physicals(cloud, name)

    # a failing update, killed while it rolls back
    taken = unique("taken")
    cloud.client("s3").create_bucket(Bucket=taken)
    before = len(events(cloud, stack_id))
    cf.update_stack(StackName=name, TemplateBody=_update_template(
        image, "v3", VMS, fail_with=taken), Capabilities=["CAPABILITY_IAM"])
    deadline, seen = time.time() + 60, ""
    while seen not in ROLLING_BACK:  # the rollback, or its cleanup (the new instances)
        seen = cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        assert seen.endswith("IN_PROGRESS") and time.time() < deadline, seen
        time.sleep(0.01)
    cloud.stop(signal.SIGKILL)
    cloud.start()
    stack = settle(cloud, stack_id, timeout=120)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason"))
        for e in events(cloud, stack_id) if e["ResourceStatus"].endswith("FAILED")]
    history = events(cloud, stack_id)[before:]
    assert [e["LogicalResourceId"] for e in history
            if e["ResourceStatus"] == "CREATE_FAILED"] == ["Taken"]
    assert _physicals(cloud, name) == updated  # the previous template's resources
    assert _group_descriptions(cloud, name) == sorted(f"g{i} v2" for i in range(GROUPS))
    assert _world(cloud, name) == {"groups": GROUPS, "buckets": 0, "users": USERS,
                                   "vms": VMS}
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id, timeout=120)["StackStatus"] == "DELETE_COMPLETE"
    assert _world(cloud, name) == {"groups": 0, "buckets": 0, "users": 0, "vms": 0}
