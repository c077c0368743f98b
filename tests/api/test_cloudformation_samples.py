"""AWS's own sample templates (pinned verbatim in tests/data/cfn-samples/, see its README)
through boto3 against a live cloud (fake guests): each validates, creates with its
parameters supplied to CREATE_COMPLETE with its resources present in the owning
services, and deletes to DELETE_COMPLETE with nothing left behind.

The samples chosen use only resource types the cloud serves. They are written for AWS
regions (subnets in the first two zones, a zone map keyed by region), so the cloud is
initialised as ``us-west-2`` with zones ``us-west-2a`` and ``us-west-2b``. The wait
condition sample's instance would run cfn-signal against its handle's URL, which the test
does in its place (the fake node runs no user data)."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.autoscaling_helpers import image
from tests.api.cfn_helpers import events, settle, unique
from tests.support import LiveCloud

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "cfn-samples"
REGION = "us-west-2"


@pytest.fixture
def west(west_cloud: LiveCloud) -> LiveCloud:
    """The cloud in us-west-2 (zones a and b) of tests/api/conftest.py."""
    return west_cloud


def _failures(cloud: LiveCloud, stack: str) -> list[tuple[str, str, Any]]:
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
            for e in events(cloud, stack) if e["ResourceStatus"].endswith("FAILED")]


def _resources(cloud: LiveCloud, stack: str) -> dict[str, tuple[str, str]]:
    found = cloud.client("cloudformation").describe_stack_resources(
        StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
            for r in found}


def _create(cloud: LiveCloud, sample: str, parameters: dict[str, str],
            during: Callable[[str], None] | None = None) -> tuple[str, str]:
    """Validate and create a stack from the sample; its (name, id) once CREATE_COMPLETE."""
    cf = cloud.client("cloudformation")
    text = (SAMPLES / sample).read_text()
    declared = {p["ParameterKey"] for p in cf.validate_template(TemplateBody=text)["Parameters"]}
    assert set(parameters) <= declared
    name = unique("sample")
    stack_id = cf.create_stack(
        StackName=name, TemplateBody=text,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )["StackId"]
    if during is not None:
        during(name)
    stack = settle(cloud, name, timeout=150)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(cloud, name)
    return name, stack_id


def _delete(cloud: LiveCloud, stack_id: str) -> None:
    cloud.client("cloudformation").delete_stack(StackName=stack_id)
    stack = settle(cloud, stack_id, timeout=150)
    assert stack["StackStatus"] == "DELETE_COMPLETE", _failures(cloud, stack_id)


def _network(cloud: LiveCloud) -> tuple[str, str]:
    """A VPC and a subnet of the caller's, for samples that take existing ones."""
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.61.1.0/24")["Subnet"]["SubnetId"]
    return vpc, subnet


def test_vpc_with_managed_nat_and_private_subnet(west: LiveCloud) -> None:
    cloud = west
    ec2 = cloud.client("ec2")
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    assert len(zones) >= 2, zones  # the sample puts subnets in the first two zones
    name, stack_id = _create(cloud, "VPC_With_Managed_NAT_And_Private_Subnet.yaml",
                             {"VPCName": "sample"})
    stack = settle(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    vpc = ec2.describe_vpcs(VpcIds=[out["VPCId"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]}["Name"] == "sample"
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [out["VPCId"]]}])["Subnets"]}
    expected = {"PublicSubnet0": ("10.0.0.0/24", zones[0], True),
                "PublicSubnet1": ("10.0.1.0/24", zones[1], True),
                "PrivateSubnet0": ("10.0.2.0/24", zones[0], False),
                "PrivateSubnet1": ("10.0.3.0/24", zones[1], False)}
    assert {key: (subnets[out[key]]["CidrBlock"], subnets[out[key]]["AvailabilityZone"],
                  subnets[out[key]]["MapPublicIpOnLaunch"]) for key in expected} == expected
    groups = ec2.describe_security_groups(GroupIds=[out["DefaultSecurityGroup"]])
    assert groups["SecurityGroups"][0]["VpcId"] == out["VPCId"]
    exports = {e["Name"]: e["Value"] for e in cloud.client("cloudformation").list_exports()[
        "Exports"] if e["ExportingStackId"] == stack_id}
    region = ec2.meta.region_name
    assert exports[f"{region}-{name}-VPC"] == out["VPCId"]
    assert len(exports) == 6
    resources = _resources(cloud, name)
    nats = ec2.describe_nat_gateways(NatGatewayIds=[
        resources[k][1] for k in ("NATGateway0", "NATGateway1")])["NatGateways"]
    assert sorted((n["State"], n["SubnetId"]) for n in nats) == sorted(
        [("available", out["PublicSubnet0"]), ("available", out["PublicSubnet1"])])
    tables = ec2.describe_route_tables(RouteTableIds=[
        resources["PrivateRouteTable0"][1]])["RouteTables"][0]
    assert [(r.get("NatGatewayId"), a) for r in tables["Routes"]
            if r.get("DestinationCidrBlock") == "0.0.0.0/0"
            for a in [a["SubnetId"] for a in tables["Associations"] if "SubnetId" in a]] == [
        (resources["NATGateway0"][1], out["PrivateSubnet0"])]
    acl = ec2.describe_network_acls(NetworkAclIds=[resources["PublicNetworkAcl"][1]])[
        "NetworkAcls"][0]
    assert sorted(a["SubnetId"] for a in acl["Associations"]) == sorted(
        [out["PublicSubnet0"], out["PublicSubnet1"]])
    ips = [resources[k][1] for k in ("ElasticIP0", "ElasticIP1")]

    _delete(cloud, stack_id)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [out["VPCId"]]}])[
        "Vpcs"] == []
    assert ec2.describe_addresses(Filters=[{"Name": "public-ip", "Values": ips}])[
        "Addresses"] == []
    assert all(n["State"] == "deleted" for n in ec2.describe_nat_gateways(Filters=[
        {"Name": "nat-gateway-id",
         "Values": [resources[k][1] for k in ("NATGateway0", "NATGateway1")]}])["NatGateways"])
    assert not [e for e in cloud.client("cloudformation").list_exports()["Exports"]
                if e["ExportingStackId"] == stack_id]


def test_find_in_map_azs(west: LiveCloud) -> None:
    """Zones from a region-keyed mapping (the cloud's region and zone names are AWS's)."""
    cloud = west
    ec2 = cloud.client("ec2")
    name, stack_id = _create(cloud, "FindInMapAZs.json", {"VpcCIDR": "10.192.0.0/16"})
    resources = _resources(cloud, name)
    vpc = resources["VPC"][1]
    subnets = {s["SubnetId"]: (s["CidrBlock"], s["AvailabilityZone"], s["MapPublicIpOnLaunch"])
               for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
                   "Subnets"]}
    assert {k: subnets[resources[k][1]] for k in (
        "PublicSubnet1", "PublicSubnet2", "PrivateSubnet1", "PrivateSubnet2")} == {
        "PublicSubnet1": ("10.192.10.0/24", f"{REGION}a", True),
        "PublicSubnet2": ("10.192.11.0/24", f"{REGION}b", True),
        "PrivateSubnet1": ("10.192.20.0/24", f"{REGION}a", False),
        "PrivateSubnet2": ("10.192.21.0/24", f"{REGION}b", False)}
    group = ec2.describe_security_groups(GroupIds=[resources["NoIngressSecurityGroup"][1]])[
        "SecurityGroups"][0]
    assert (group["GroupName"], group["VpcId"], group["IpPermissions"]) == (
        "no-ingress-sg", vpc, [])
    table = ec2.describe_route_tables(RouteTableIds=[resources["PublicRouteTable"][1]])[
        "RouteTables"][0]
    assert [r.get("GatewayId") for r in table["Routes"]
            if r.get("DestinationCidrBlock") == "0.0.0.0/0"] == [resources["InternetGateway"][1]]

    _delete(cloud, stack_id)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []
    assert ec2.describe_internet_gateways(Filters=[{
        "Name": "internet-gateway-id", "Values": [resources["InternetGateway"][1]]}])[
            "InternetGateways"] == []


def test_single_eni_with_multiple_eips(west: LiveCloud) -> None:
    cloud = west
    ec2 = cloud.client("ec2")
    vpc, subnet = _network(cloud)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    name, stack_id = _create(cloud, "SingleENIwithMultipleEIPs.json", {"Subnet": subnet})
    resources = _resources(cloud, name)
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[resources["ENI"][1]])[
        "NetworkInterfaces"][0]
    assert eni["SubnetId"] == subnet and eni["SourceDestCheck"] is True
    secondary = [a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"] if not a["Primary"]]
    assert len(secondary) == 2
    addresses = ec2.describe_addresses(PublicIps=[resources["EIP1"][1], resources["EIP2"][1]])[
        "Addresses"]
    assert sorted((a["NetworkInterfaceId"], a["PrivateIpAddress"]) for a in addresses) == \
        sorted((eni["NetworkInterfaceId"], ip) for ip in secondary)

    _delete(cloud, stack_id)
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "network-interface-id", "Values": [eni["NetworkInterfaceId"]]}])[
            "NetworkInterfaces"] == []
    assert ec2.describe_addresses(Filters=[{"Name": "public-ip", "Values": [
        resources["EIP1"][1], resources["EIP2"][1]]}])["Addresses"] == []
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def _signal_handle(cloud: LiveCloud) -> Callable[[str], None]:
    """Play the sample's instance: once the handle exists, cfn-signal success to its URL."""
    def signal(stack: str) -> None:
        deadline = time.time() + 60
        while True:
            url = _resources(cloud, stack).get("KWOSWaitHandle", ("", ""))[1]
            if url:
                break
            assert time.time() < deadline, _failures(cloud, stack)
            time.sleep(0.2)
        document = json.dumps({"Status": "SUCCESS", "Reason": "KWOS setup complete",
                               "UniqueId": "KWOSInstance", "Data": "done"}).encode()
        request = urllib.request.Request(url, data=document, method="PUT",
                                         headers={"Content-Type": ""})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    return signal


def test_ec2_with_wait_condition(west: LiveCloud) -> None:
    cloud = west
    ec2 = cloud.client("ec2")
    vpc, subnet = _network(cloud)
    key = unique("kwos")
    ec2.create_key_pair(KeyName=key)
    parameters = {"KeyName": key, "InstanceName": "kwos", "InstanceType": "t1.micro",
                  "ImageId": image(cloud), "VpcId": vpc, "SubnetId": subnet,
                  "TestID": "t-1", "TestTarget": "target", "AgentID": "agent-1"}
    name, stack_id = _create(cloud, "ec2_with_waitcondition_template.yaml", parameters,
                             during=_signal_handle(cloud))
    stack = settle(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    reservation = ec2.describe_instances(InstanceIds=[out["InstanceId"]])["Reservations"][0]
    instance = reservation["Instances"][0]
    assert (instance["State"]["Name"], instance["SubnetId"], instance["KeyName"]) == (
        "running", subnet, key)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert (tags["Name"], tags["TestID"], tags["BudgetCode"]) == ("kwos", "t-1", "A019517")
    group = ec2.describe_security_groups(GroupIds=[
        g["GroupId"] for g in instance["SecurityGroups"]])["SecurityGroups"][0]
    assert group["VpcId"] == vpc
    assert sorted((p["IpProtocol"], p.get("FromPort")) for p in group["IpPermissions"]) == [
        ("icmp", -1), ("tcp", 22), ("tcp", 80), ("tcp", 443), ("tcp", 8888)]
    assert out["WebsiteURL"].startswith("http://")
    handle = _resources(cloud, name)["KWOSWaitHandle"][1]
    user_data = ec2.describe_instance_attribute(InstanceId=out["InstanceId"],
                                                Attribute="userData")["UserData"]["Value"]
    assert handle in base64.b64decode(user_data).decode()

    _delete(cloud, stack_id)
    states = [i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=[out["InstanceId"]])["Reservations"] for i in r["Instances"]]
    assert states in ([], ["terminated"])
    assert ec2.describe_security_groups(Filters=[
        {"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroups"] == []
    ec2.delete_key_pair(KeyName=key)
