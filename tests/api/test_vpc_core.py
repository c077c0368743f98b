"""VPCs, subnets and their AWS details through boto3 against a live cloud."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_vpc_lifecycle_attributes_and_errors(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "core"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc_id.startswith("vpc-") and vpc["CidrBlock"] == "10.20.0.0/16"
    assert vpc["Tags"] == [{"Key": "Name", "Value": "core"}]
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
    ec2.get_waiter("vpc_exists").wait(VpcIds=[vpc_id])
    got = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert got["State"] == "available" and got["IsDefault"] is False
    assert got["OwnerId"] == cloud.account_id and got["DhcpOptionsId"] == "default"
    assert [c["CidrBlock"] for c in got["CidrBlockAssociationSet"]] == ["10.20.0.0/16"]
    by_tag = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["core"]}])["Vpcs"]
    assert [v["VpcId"] for v in by_tag] == [vpc_id]
    by_cidr = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.20.*"]}])["Vpcs"]
    assert vpc_id in [v["VpcId"] for v in by_cidr]
    # DNS hostnames are off in a non-default VPC, DNS support on
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"] == {"Value": False}
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")[
        "EnableDnsSupport"] == {"Value": True}
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"] == {"Value": True}
    # secondary CIDR blocks
    assoc = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.21.0.0/16")
    with pytest.raises(ClientError) as exc:
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.20.128.0/17")
    assert _code(exc) == "InvalidVpc.Range"
    primary = got["CidrBlockAssociationSet"][0]["AssociationId"]
    with pytest.raises(ClientError) as exc:
        ec2.disassociate_vpc_cidr_block(AssociationId=primary)
    assert _code(exc) == "OperationNotPermitted"
    ec2.disassociate_vpc_cidr_block(AssociationId=assoc["CidrBlockAssociation"]["AssociationId"])
    for bad in ("10.0.0.0/8", "10.0.0.0/29", "banana", "10.0.0.1/16"):
        with pytest.raises(ClientError) as exc:
            ec2.create_vpc(CidrBlock=bad)
        assert _code(exc) in ("InvalidVpc.Range", "InvalidParameterValue"), bad
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"])
    assert _code(exc) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId="vpc-nothex")
    assert _code(exc) == "InvalidVpcID.Malformed"
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc_id)
    assert _code(exc) == "DependencyViolation"
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=[vpc_id])
    assert _code(exc) == "InvalidVpcID.NotFound"


def test_subnets_reserved_addresses_range_conflict(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.0/24")["Subnet"]
    assert subnet["AvailableIpAddressCount"] == 251  # 256 - the five AWS reserves
    assert subnet["MapPublicIpOnLaunch"] is False and subnet["DefaultForAz"] is False
    small = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.2.0/28")["Subnet"]
    assert small["AvailableIpAddressCount"] == 11
    ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet["SubnetId"]])
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.128/25")
    assert _code(exc) == "InvalidSubnet.Conflict"
    for outside in ("10.31.0.0/24", "10.30.0.0/15"):
        with pytest.raises(ClientError) as exc:
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=outside)
        assert _code(exc) == "InvalidSubnet.Range", outside
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.3.0/29")
    assert _code(exc) == "InvalidSubnet.Range"
    # the first address an interface gets is the fifth of the subnet (.4)
    eni = ec2.create_network_interface(SubnetId=small["SubnetId"])["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.30.2.4"
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=small["SubnetId"], PrivateIpAddress="10.30.2.3")
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=small["SubnetId"], PrivateIpAddress="10.30.2.4")
    assert _code(exc) == "InvalidIPAddress.InUse"
    after = ec2.describe_subnets(SubnetIds=[small["SubnetId"]])["Subnets"][0]
    assert after["AvailableIpAddressCount"] == 10
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    mapped = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "map-public-ip-on-launch", "Values": ["true"]}])["Subnets"]
    assert [s["SubnetId"] for s in mapped] == [subnet["SubnetId"]]
    with pytest.raises(ClientError) as exc:
        ec2.delete_subnet(SubnetId=small["SubnetId"])
    assert _code(exc) == "DependencyViolation"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=small["SubnetId"])
    with pytest.raises(ClientError) as exc:
        ec2.describe_subnets(SubnetIds=[small["SubnetId"]])
    assert _code(exc) == "InvalidSubnetID.NotFound"


def test_describe_subnets_pages(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    made = {ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.40.{i}.0/24")["Subnet"]["SubnetId"]
            for i in range(12)}
    seen: list[str] = []
    pages = ec2.get_paginator("describe_subnets").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}], PaginationConfig={"PageSize": 5})
    for page in pages:
        assert len(page["Subnets"]) <= 5
        seen += [s["SubnetId"] for s in page["Subnets"]]
    assert sorted(seen) == sorted(made)
    with pytest.raises(ClientError) as exc:
        ec2.describe_subnets(MaxResults=5, NextToken="garbage")
    assert _code(exc) == "InvalidNextToken"
    first = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
                                 MaxResults=5)
    assert len(first["Subnets"]) == 5
    with pytest.raises(ClientError) as exc:  # the token belongs to the vpc-id query
        ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.40.1.0/24"]}],
                             MaxResults=5, NextToken=first["NextToken"])
    assert _code(exc) == "InvalidNextToken"
    # exact filters page in SQL, wildcards and tags in Python: the same answers
    exact = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                          {"Name": "cidr-block", "Values": ["10.40.3.0/24"]}])
    pattern = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                            {"Name": "cidr-block", "Values": ["10.40.3.*"]}])
    assert exact["Subnets"] == pattern["Subnets"] and len(exact["Subnets"]) == 1
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
                                       MaxResults=5)["RouteTables"]
    assert len(tables) == 1 and tables[0]["Routes"][0]["GatewayId"] == "local"


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3 (DryRun: before any SQL)")
def test_aws_cli_vpc_subnet_and_dry_run(cloud: LiveCloud) -> None:
    out = json.loads(cloud.aws("ec2", "create-vpc", "--cidr-block", "10.44.0.0/16").stdout)
    vpc_id = out["Vpc"]["VpcId"]
    subnet = json.loads(cloud.aws("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block",
                                  "10.44.1.0/24").stdout)["Subnet"]
    assert subnet["AvailableIpAddressCount"] == 251
    cloud.aws("ec2", "wait", "subnet-available", "--subnet-ids", subnet["SubnetId"])
    listed = json.loads(cloud.aws("ec2", "describe-subnets", "--filters",
                                  f"Name=vpc-id,Values={vpc_id}").stdout)["Subnets"]
    assert [s["SubnetId"] for s in listed] == [subnet["SubnetId"]]
    dry = cloud.aws("ec2", "create-vpc", "--cidr-block", "10.45.0.0/16", "--dry-run",
                    check=False)
    assert dry.returncode != 0 and "DryRunOperation" in dry.stderr
    ec2 = cloud.client("ec2")
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc_id, DryRun=True)
    assert _code(exc) == "DryRunOperation"
    bad = cloud.aws("ec2", "delete-subnet", "--subnet-id", "subnet-0123456789abcdef0",
                    check=False)
    assert bad.returncode != 0 and "InvalidSubnetID.NotFound" in bad.stderr
    cloud.aws("ec2", "delete-subnet", "--subnet-id", subnet["SubnetId"])
    cloud.aws("ec2", "delete-vpc", "--vpc-id", vpc_id)


@pytest.mark.parametrize(("operation", "key", "ident", "make"), [
    ("describe_vpcs", "Vpcs", "VpcId", None),
    ("describe_route_tables", "RouteTables", "RouteTableId", "create_route_table"),
    ("describe_network_acls", "NetworkAcls", "NetworkAclId", "create_network_acl"),
    ("describe_internet_gateways", "InternetGateways", "InternetGatewayId",
     "create_internet_gateway"),
    ("describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceId",
     "create_network_interface"),
])
def test_describe_calls_page(cloud: LiveCloud, operation: str, key: str, ident: str,
                             make: str | None) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.43.1.0/24")["Subnet"]["SubnetId"]
    tag = f"page-{operation}"
    made: list[str] = []
    for _ in range(7):
        if make is None:
            made.append(ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"])
        elif make == "create_internet_gateway":
            made.append(ec2.create_internet_gateway()["InternetGateway"][ident])
        elif make == "create_network_interface":
            made.append(ec2.create_network_interface(SubnetId=subnet_id)[
                "NetworkInterface"][ident])
        else:
            made.append(getattr(ec2, make)(VpcId=vpc_id)[
                "RouteTable" if "route" in make else "NetworkAcl"][ident])
    ec2.create_tags(Resources=made, Tags=[{"Key": "suite", "Value": tag}])
    seen: list[str] = []
    filters = [{"Name": "tag:suite", "Values": [tag]}]
    pages = ec2.get_paginator(operation).paginate(Filters=filters,
                                                  PaginationConfig={"PageSize": 5})
    sizes = []
    for page in pages:
        sizes.append(len(page[key]))
        seen += [item[ident] for item in page[key]]
    assert sorted(seen) == sorted(made) and sizes == [5, 2]
    first = getattr(ec2, operation)(Filters=filters, MaxResults=5)
    with pytest.raises(ClientError) as exc:  # a token of other filters is refused
        getattr(ec2, operation)(Filters=[{"Name": "tag:suite", "Values": ["x"]}],
                                MaxResults=5, NextToken=first["NextToken"])
    assert _code(exc) == "InvalidNextToken"
