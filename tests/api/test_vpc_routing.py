"""Route tables, internet gateways and NAT gateways through boto3 against a live cloud."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _vpc(ec2: object, cidr: str) -> tuple[str, str]:
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]  # type: ignore[attr-defined]
    subnet = cidr.replace("0.0/16", "1.0/24")
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet)[  # type: ignore[attr-defined]
        "Subnet"]["SubnetId"]
    return vpc_id, sid


def test_main_table_local_route_is_immutable(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id, subnet_id = _vpc(ec2, "10.50.0.0/16")
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"]
    assert len(tables) == 1
    main = tables[0]
    assert main["Associations"][0]["Main"] is True and "SubnetId" not in main["Associations"][0]
    assert main["Routes"] == [{"DestinationCidrBlock": "10.50.0.0/16", "GatewayId": "local",
                               "Origin": "CreateRouteTable", "State": "active"}]
    table_id = main["RouteTableId"]
    for call in (ec2.delete_route, ec2.replace_route):
        extra = {"GatewayId": "local"} if call is ec2.replace_route else {}
        with pytest.raises(ClientError) as exc:
            call(RouteTableId=table_id, DestinationCidrBlock="10.50.0.0/16", **extra)
        assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route_table(RouteTableId=table_id)
    assert _code(exc) == "DependencyViolation"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="192.168.0.0/16")
    assert _code(exc) == "InvalidRoute.NotFound"
    # a secondary CIDR block adds its local route
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.51.0.0/16")
    routes = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"] for r in routes} == {"10.50.0.0/16", "10.51.0.0/16"}
    assert ec2.describe_route_tables(Filters=[
        {"Name": "association.main", "Values": ["true"]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]["RouteTableId"] == table_id


def test_custom_tables_associations_and_routes(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id, subnet_id = _vpc(ec2, "10.52.0.0/16")
    other_vpc, other_subnet = _vpc(ec2, "10.53.0.0/16")
    main_id = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]["RouteTableId"]
    table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "tier", "Value": "public"}]}])[
        "RouteTable"]
    table_id = table["RouteTableId"]
    assert table["Routes"][0]["GatewayId"] == "local" and table["Associations"] == []
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    with pytest.raises(ClientError) as exc:  # not attached to this VPC
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw)
    assert _code(exc) == "InvalidParameterValue"
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    with pytest.raises(ClientError) as exc:
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw)
    assert _code(exc) == "RouteAlreadyExists"
    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"][
        "NetworkInterfaceId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="192.168.0.0/16",
                     NetworkInterfaceId=eni)
    ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock="192.168.0.0/16",
                      GatewayId=igw)
    with pytest.raises(ClientError) as exc:
        ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock="172.16.0.0/12",
                          GatewayId=igw)
    assert _code(exc) == "InvalidRoute.NotFound"
    shown = ec2.describe_route_tables(Filters=[
        {"Name": "route.gateway-id", "Values": [igw]}])["RouteTables"]
    assert [t["RouteTableId"] for t in shown] == [table_id]
    routes = {r["DestinationCidrBlock"]: r for r in shown[0]["Routes"]}
    assert routes["192.168.0.0/16"]["GatewayId"] == igw
    assert routes["0.0.0.0/0"]["State"] == "active"
    # associations
    with pytest.raises(ClientError) as exc:
        ec2.associate_route_table(RouteTableId=table_id, SubnetId=other_subnet)
    assert _code(exc) == "InvalidParameterValue"
    assoc = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)[
        "AssociationId"]
    with pytest.raises(ClientError) as exc:
        ec2.associate_route_table(RouteTableId=main_id, SubnetId=subnet_id)
    assert _code(exc) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route_table(RouteTableId=table_id)
    assert _code(exc) == "DependencyViolation"
    new_assoc = ec2.replace_route_table_association(AssociationId=assoc,
                                                    RouteTableId=main_id)["NewAssociationId"]
    ec2.disassociate_route_table(AssociationId=new_assoc)
    with pytest.raises(ClientError) as exc:
        ec2.disassociate_route_table(AssociationId=new_assoc)
    assert _code(exc) == "InvalidAssociationID.NotFound"
    # the main association moves to the custom table, and back
    main_assoc = ec2.describe_route_tables(RouteTableIds=[main_id])["RouteTables"][0][
        "Associations"][0]["RouteTableAssociationId"]
    with pytest.raises(ClientError) as exc:
        ec2.disassociate_route_table(AssociationId=main_assoc)
    assert _code(exc) == "InvalidParameterValue"
    moved = ec2.replace_route_table_association(AssociationId=main_assoc,
                                                RouteTableId=table_id)["NewAssociationId"]
    now_main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main",
                                                 "Values": ["true"]}])["RouteTables"]
    assert [t["RouteTableId"] for t in now_main] == [table_id]
    ec2.replace_route_table_association(AssociationId=moved, RouteTableId=main_id)
    # a detached gateway leaves blackhole routes; deleting the route table works
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    routes = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r["State"] for r in routes}["0.0.0.0/0"] == "blackhole"
    ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route_table(RouteTableId=table_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_route_tables(RouteTableIds=[table_id])
    assert _code(exc) == "InvalidRouteTableID.NotFound"
    assert other_vpc


def test_internet_gateway_attachment_rules(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_a = ec2.create_vpc(CidrBlock="10.54.0.0/16")["Vpc"]["VpcId"]
    vpc_b = ec2.create_vpc(CidrBlock="10.55.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "k", "Value": "v"}]}])[
        "InternetGateway"]
    gid = igw["InternetGatewayId"]
    assert igw["Attachments"] == [] and igw["Tags"] == [{"Key": "k", "Value": "v"}]
    igw2 = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_a)
    ec2.get_waiter("internet_gateway_exists").wait(InternetGatewayIds=[gid])
    for gateway, vpc in ((gid, vpc_b), (igw2, vpc_a)):
        with pytest.raises(ClientError) as exc:
            ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        assert _code(exc) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as exc:
        ec2.delete_internet_gateway(InternetGatewayId=gid)
    assert _code(exc) == "DependencyViolation"
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc_a)
    assert _code(exc) == "DependencyViolation"
    with pytest.raises(ClientError) as exc:
        ec2.detach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_b)
    assert _code(exc) == "Gateway.NotAttached"
    found = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_a]}])["InternetGateways"]
    assert [g["InternetGatewayId"] for g in found] == [gid]
    assert found[0]["Attachments"] == [{"State": "available", "VpcId": vpc_a}]
    ec2.detach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_a)
    ec2.delete_internet_gateway(InternetGatewayId=gid)
    with pytest.raises(ClientError) as exc:
        ec2.describe_internet_gateways(InternetGatewayIds=[gid])
    assert _code(exc) == "InvalidInternetGatewayID.NotFound"
    ec2.delete_internet_gateway(InternetGatewayId=igw2)


def test_nat_gateway_states_and_routes(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id, subnet_id = _vpc(ec2, "10.56.0.0/16")
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    with pytest.raises(ClientError) as exc:
        ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId="eipalloc-0123456789abcdef0")
    assert _code(exc) == "InvalidAllocationID.NotFound"
    nat = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "n1"}]}])["NatGateway"]
    nat_id = nat["NatGatewayId"]
    assert nat["State"] == "pending" and nat["VpcId"] == vpc_id
    address = nat["NatGatewayAddresses"][0]
    assert address["AllocationId"] == alloc and address["PrivateIp"] == "10.56.1.4"
    with pytest.raises(ClientError) as exc:  # the EIP is taken
        ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc)
    assert _code(exc) == "Resource.AlreadyAssociated"
    ec2.get_waiter("nat_gateway_available").wait(
        NatGatewayIds=[nat_id], WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[
        address["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["InterfaceType"] == "nat_gateway" and eni["RequesterManaged"] is True
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert _code(exc) == "InvalidNetworkInterface.InUse"
    table = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    by_filter = ec2.describe_nat_gateways(Filter=[
        {"Name": "tag:Name", "Values": ["n1"]}, {"Name": "state", "Values": ["available"]}])
    assert [n["NatGatewayId"] for n in by_filter["NatGateways"]] == [nat_id]
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    ec2.get_waiter("nat_gateway_deleted").wait(
        NatGatewayIds=[nat_id], WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    gone = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
    assert gone["State"] == "deleted" and "DeleteTime" in gone
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r["State"] for r in routes}["0.0.0.0/0"] == "blackhole"
    with pytest.raises(ClientError) as exc:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])
    assert _code(exc) == "InvalidNetworkInterfaceID.NotFound"
    # the elastic IP is free again
    again = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc)["NatGateway"]
    ec2.delete_nat_gateway(NatGatewayId=again["NatGatewayId"])
    with pytest.raises(ClientError) as exc:
        ec2.delete_nat_gateway(NatGatewayId="nat-0123456789abcdef0")
    assert _code(exc) == "NatGatewayNotFound"
