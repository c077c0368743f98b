"""EC2's public API: VPC networking (VPCs, subnets, gateways, route tables, ACLs, DHCP
options, NAT gateways, interfaces) and deleting any of them by id.

Every function acts as ``caller`` (see ``cloudctl.services.ec2.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.calls import Tags, ec2_call, not_found, tag_specs

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def create_vpc(cloud: Cloud, caller: Caller, *, cidr: str, tenancy: str | None = None,
                     tags: Tags | None = None) -> dict[str, Any]:
    """CreateVpc's ``Vpc``."""
    params: dict[str, Any] = {"CidrBlock": cidr,
                              "TagSpecifications": tag_specs("vpc", tags or [])}
    if tenancy:
        params["InstanceTenancy"] = tenancy
    return dict((await ec2_call(cloud, caller, "CreateVpc", params))["Vpc"])


async def vpc_defaults(cloud: Cloud, caller: Caller, vpc_id: str) -> tuple[str, str]:
    """The VPC's default security group id and default network ACL id."""
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
    groups = await ec2_call(cloud, caller, "DescribeSecurityGroups", {
        "Filters": filters + [{"Name": "group-name", "Values": ["default"]}]})
    acls = await ec2_call(cloud, caller, "DescribeNetworkAcls", {
        "Filters": filters + [{"Name": "default", "Values": ["true"]}]})
    group = (groups.get("SecurityGroups") or [{}])[0].get("GroupId", "")
    acl = (acls.get("NetworkAcls") or [{}])[0].get("NetworkAclId", "")
    return str(group), str(acl)


async def modify_vpc_attribute(cloud: Cloud, caller: Caller, vpc_id: str, name: str,
                               value: bool) -> None:
    """``name``: EnableDnsSupport or EnableDnsHostnames."""
    await ec2_call(cloud, caller, "ModifyVpcAttribute", {"VpcId": vpc_id, name: {"Value": value}})


async def create_subnet(cloud: Cloud, caller: Caller, *, vpc_id: str, cidr: str,
                        zone: str | None = None, tags: Tags | None = None) -> dict[str, Any]:
    """CreateSubnet's ``Subnet``."""
    params: dict[str, Any] = {"VpcId": vpc_id, "CidrBlock": cidr,
                              "TagSpecifications": tag_specs("subnet", tags or [])}
    if zone:
        params["AvailabilityZone"] = zone
    return dict((await ec2_call(cloud, caller, "CreateSubnet", params))["Subnet"])


async def subnet(cloud: Cloud, caller: Caller, subnet_id: str) -> dict[str, Any] | None:
    try:
        found = await ec2_call(cloud, caller, "DescribeSubnets", {"SubnetIds": [subnet_id]})
    except AwsError as error:
        if not_found(error):
            return None
        raise
    subnets = found.get("Subnets") or []
    return dict(subnets[0]) if subnets else None


async def modify_subnet_attribute(cloud: Cloud, caller: Caller, subnet_id: str, name: str,
                                  value: bool) -> None:
    """``name``: MapPublicIpOnLaunch (or another boolean subnet attribute)."""
    await ec2_call(cloud, caller, "ModifySubnetAttribute",
               {"SubnetId": subnet_id, name: {"Value": value}})


async def create_internet_gateway(cloud: Cloud, caller: Caller,
                                  tags: Tags | None = None) -> str:
    found = await ec2_call(cloud, caller, "CreateInternetGateway",
                       {"TagSpecifications": tag_specs("internet-gateway", tags or [])})
    return str(found["InternetGateway"]["InternetGatewayId"])


async def attach_internet_gateway(cloud: Cloud, caller: Caller, gateway_id: str,
                                  vpc_id: str) -> None:
    await ec2_call(cloud, caller, "AttachInternetGateway",
               {"InternetGatewayId": gateway_id, "VpcId": vpc_id})


async def detach_internet_gateway(cloud: Cloud, caller: Caller, gateway_id: str,
                                  vpc_id: str) -> None:
    """Detach; a gateway or attachment already gone is not an error."""
    try:
        await ec2_call(cloud, caller, "DetachInternetGateway",
                   {"InternetGatewayId": gateway_id, "VpcId": vpc_id})
    except AwsError as error:
        if not (not_found(error) or error.code == "Gateway.NotAttached"):
            raise


async def create_route_table(cloud: Cloud, caller: Caller, vpc_id: str,
                             tags: Tags | None = None) -> str:
    found = await ec2_call(cloud, caller, "CreateRouteTable", {
        "VpcId": vpc_id, "TagSpecifications": tag_specs("route-table", tags or [])})
    return str(found["RouteTable"]["RouteTableId"])


async def create_route(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    """CreateRoute with its request parameters (RouteTableId, destination, target)."""
    await ec2_call(cloud, caller, "CreateRoute", params)


async def delete_route(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    """DeleteRoute (RouteTableId and destination); a route already gone is not an error."""
    try:
        await ec2_call(cloud, caller, "DeleteRoute", params)
    except AwsError as error:
        if not not_found(error):
            raise


async def associate_route_table(cloud: Cloud, caller: Caller, route_table_id: str,
                                subnet_id: str) -> str:
    found = await ec2_call(cloud, caller, "AssociateRouteTable",
                       {"RouteTableId": route_table_id, "SubnetId": subnet_id})
    return str(found["AssociationId"])


async def disassociate_route_table(cloud: Cloud, caller: Caller, association_id: str) -> None:
    try:
        await ec2_call(cloud, caller, "DisassociateRouteTable", {"AssociationId": association_id})
    except AwsError as error:
        if not not_found(error):
            raise


async def create_network_acl(cloud: Cloud, caller: Caller, vpc_id: str,
                             tags: Tags | None = None) -> str:
    found = await ec2_call(cloud, caller, "CreateNetworkAcl", {
        "VpcId": vpc_id, "TagSpecifications": tag_specs("network-acl", tags or [])})
    return str(found["NetworkAcl"]["NetworkAclId"])


async def create_network_acl_entry(cloud: Cloud, caller: Caller,
                                   params: dict[str, Any]) -> None:
    """CreateNetworkAclEntry with its request parameters."""
    await ec2_call(cloud, caller, "CreateNetworkAclEntry", params)


async def delete_network_acl_entry(cloud: Cloud, caller: Caller, acl_id: str, rule: int,
                                   egress: bool) -> None:
    try:
        await ec2_call(cloud, caller, "DeleteNetworkAclEntry",
                   {"NetworkAclId": acl_id, "RuleNumber": rule, "Egress": egress})
    except AwsError as error:
        if not not_found(error):
            raise


async def replace_subnet_acl(cloud: Cloud, caller: Caller, subnet_id: str,
                             acl_id: str | None) -> str:
    """Associate the subnet with ``acl_id`` (None: its VPC's default ACL); the new
    association id."""
    current = await ec2_call(cloud, caller, "DescribeNetworkAcls", {
        "Filters": [{"Name": "association.subnet-id", "Values": [subnet_id]}]})
    acls = current.get("NetworkAcls") or []
    if not acls:
        raise AwsError(f"The subnet ID '{subnet_id}' does not exist",
                       code="InvalidSubnetID.NotFound")
    association = next(a["NetworkAclAssociationId"] for a in acls[0]["Associations"]
                       if a["SubnetId"] == subnet_id)
    if acl_id is None:
        _, acl_id = await vpc_defaults(cloud, caller, str(acls[0]["VpcId"]))
    found = await ec2_call(cloud, caller, "ReplaceNetworkAclAssociation",
                       {"AssociationId": association, "NetworkAclId": acl_id})
    return str(found["NewAssociationId"])


async def create_dhcp_options(cloud: Cloud, caller: Caller,
                              configurations: list[dict[str, Any]],
                              tags: Tags | None = None) -> str:
    found = await ec2_call(cloud, caller, "CreateDhcpOptions", {
        "DhcpConfigurations": configurations,
        "TagSpecifications": tag_specs("dhcp-options", tags or [])})
    return str(found["DhcpOptions"]["DhcpOptionsId"])


async def associate_dhcp_options(cloud: Cloud, caller: Caller, options_id: str,
                                 vpc_id: str) -> None:
    """``options_id`` "default" restores the default options."""
    await ec2_call(cloud, caller, "AssociateDhcpOptions",
               {"DhcpOptionsId": options_id, "VpcId": vpc_id})


async def create_nat_gateway(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> str:
    """CreateNatGateway with its request parameters; the gateway id."""
    found = await ec2_call(cloud, caller, "CreateNatGateway", params)
    return str(found["NatGateway"]["NatGatewayId"])


async def nat_gateway(cloud: Cloud, caller: Caller, gateway_id: str) -> dict[str, Any] | None:
    try:
        found = await ec2_call(cloud, caller, "DescribeNatGateways",
                           {"NatGatewayIds": [gateway_id]})
    except AwsError as error:
        if not_found(error):
            return None
        raise
    items = found.get("NatGateways") or []
    return dict(items[0]) if items else None


async def create_network_interface(cloud: Cloud, caller: Caller,
                                   params: dict[str, Any]) -> dict[str, Any]:
    """CreateNetworkInterface with its request parameters; its ``NetworkInterface``."""
    found = await ec2_call(cloud, caller, "CreateNetworkInterface", params)
    return dict(found["NetworkInterface"])


async def network_interface(cloud: Cloud, caller: Caller,
                            interface_id: str) -> dict[str, Any] | None:
    try:
        found = await ec2_call(cloud, caller, "DescribeNetworkInterfaces",
                           {"NetworkInterfaceIds": [interface_id]})
    except AwsError as error:
        if not_found(error):
            return None
        raise
    items = found.get("NetworkInterfaces") or []
    return dict(items[0]) if items else None


_DELETERS = {"vpc": ("DeleteVpc", "VpcId"), "subnet": ("DeleteSubnet", "SubnetId"),
             "igw": ("DeleteInternetGateway", "InternetGatewayId"),
             "rtb": ("DeleteRouteTable", "RouteTableId"),
             "acl": ("DeleteNetworkAcl", "NetworkAclId"),
             "dopt": ("DeleteDhcpOptions", "DhcpOptionsId"),
             "nat": ("DeleteNatGateway", "NatGatewayId"),
             "eni": ("DeleteNetworkInterface", "NetworkInterfaceId")}


async def delete_vpc_resource(cloud: Cloud, caller: Caller, resource_id: str) -> None:
    """Delete a VPC, subnet, internet gateway or route table by id (its prefix says
    which); one already gone is not an error."""
    operation, member = _DELETERS[resource_id.split("-", 1)[0]]
    try:
        await ec2_call(cloud, caller, operation, {member: resource_id})
    except AwsError as error:
        if not not_found(error):
            raise
