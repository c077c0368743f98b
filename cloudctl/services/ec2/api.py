"""EC2's public API: the typed functions other services call (never EC2's tables).

Every function acts as ``caller`` (``cloudctl.server.internal.Caller``): the call is
authorised as that principal exactly as the same API request would be, and answers the
operation's ``AwsError`` on failure. Results are plain typed values.

- security groups: ``create_security_group``, ``create_security_groups`` (many in one
  transaction), ``security_group``, ``delete_security_group``, ``delete_security_groups``
  (many in one transaction),
  ``authorize_ingress``/``authorize_egress``, ``revoke_ingress``/``revoke_egress``;
- key pairs: ``create_key_pair``, ``import_key_pair``, ``key_pair``, ``delete_key_pair``;
- volumes: ``create_volume``, ``volume``, ``delete_volume``, ``attach_volume``,
  ``detach_volume``, ``create_snapshot``;
- addresses: ``allocate_address``, ``release_address``, ``associate_address``,
  ``disassociate_address``;
- instances: ``run_instance``, ``instance``, ``terminate_instance``;
- VPC networking (``vpc_*``): ``create_vpc``, ``vpc_defaults``, ``create_subnet``,
  ``subnet``, ``create_internet_gateway``, ``attach_internet_gateway``,
  ``detach_internet_gateway``, ``create_route_table``, ``create_route``,
  ``delete_route``, ``associate_route_table``, ``disassociate_route_table``,
  ``modify_vpc_attribute``, ``modify_subnet_attribute``, ``create_network_acl``,
  ``create_network_acl_entry``, ``delete_network_acl_entry``, ``replace_subnet_acl``,
  ``create_dhcp_options``, ``associate_dhcp_options``, ``create_nat_gateway``,
  ``nat_gateway``, ``create_network_interface``, ``network_interface`` and
  ``delete_vpc_resource`` (any of them by id);
- launch templates: ``create_launch_template``, ``create_launch_template_version``,
  ``set_default_launch_template_version``, ``delete_launch_template``;
- lookups for parameter types: ``existing_ids``, ``zones``;
- ``create_tags``; ``system_tags``: the ``aws:`` tags only a service may set
  (``aws:cloudformation:stack-name``...), written past the user-facing check;
- ``instance_facts(session, account_id, region, ids)``: the account's instances among
  ``ids`` with what a load balancer needs of them (zone, state, addresses); a read in
  the caller's session, not an API call;
- a service's own interfaces in customer subnets (a load balancer's), in the caller's
  session: ``service_subnets``, ``service_groups``, ``security_group_names``,
  ``vpc_default_group``,
  ``service_interfaces``, ``sync_service_interfaces``, then ``vpc_changed``;
- ``register_source_groups(resolver)``: a service's source security groups (a load
  balancer's) usable as the source of EDGE group rules;
- ``default_subnets(cloud, account_id, region, zones)``: the default VPC's subnets of
  those zones in VPC mode (a load balancer given zones lands there, as on AWS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller, call, each_authorized, refusal
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.network import security_groups as groups_mod
from cloudctl.services.ec2.network.security_groups import NewGroup
from cloudctl.services.ec2.vpc import service_interfaces as service_interfaces_mod
from cloudctl.services.ec2.vpc.service_interfaces import ServiceInterface, SubnetFacts

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

__all__ = [
    "Caller", "InstanceFacts", "allocate_address", "create_launch_template",
    "create_launch_template_version", "delete_launch_template",
    "set_default_launch_template_version", "associate_route_table",
    "attach_internet_gateway", "create_internet_gateway", "create_route",
    "create_route_table", "create_subnet", "create_vpc", "delete_route",
    "delete_vpc_resource", "detach_internet_gateway", "disassociate_route_table",
    "modify_subnet_attribute", "modify_vpc_attribute", "subnet", "vpc_defaults",
    "associate_dhcp_options", "create_dhcp_options", "create_nat_gateway",
    "create_network_acl", "create_network_acl_entry", "create_network_interface",
    "delete_network_acl_entry", "nat_gateway", "network_interface", "replace_subnet_acl", "associate_address", "attach_volume", "authorize_egress",
    "authorize_ingress", "create_key_pair", "create_security_group", "create_security_groups", "NewGroup", "create_snapshot",
    "create_tags", "create_volume", "delete_key_pair", "delete_security_group",
    "delete_security_groups",
    "delete_volume", "detach_volume", "disassociate_address", "existing_ids",
    "import_key_pair", "instance", "instance_facts", "key_pair", "release_address", "revoke_egress",
    "revoke_ingress", "run_instance", "security_group", "system_tags", "terminate_instance",
    "volume", "zones", "ServiceInterface", "SubnetFacts", "service_groups",
    "security_group_names", "service_interfaces", "service_subnets", "sync_service_interfaces", "vpc_changed",
    "vpc_default_group", "register_source_groups", "default_subnets",
]

Tags = list[dict[str, str]]


def _tag_specs(resource_type: str, tags: Tags) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tags}] if tags else []


async def _ec2(cloud: Cloud, caller: Caller, operation: str,
               params: dict[str, Any]) -> dict[str, Any]:
    return await call(cloud, caller, "ec2", operation, params)


def _not_found(error: AwsError) -> bool:
    return error.code.endswith(".NotFound") or error.code.endswith("NotFound")


# -- security groups -----------------------------------------------------------------------

async def create_security_group(cloud: Cloud, caller: Caller, *, name: str,
                                description: str, vpc_id: str | None = None,
                                tags: Tags | None = None) -> str:
    params: dict[str, Any] = {"GroupName": name, "Description": description,
                              "TagSpecifications": _tag_specs("security-group", tags or [])}
    if vpc_id:
        params["VpcId"] = vpc_id
    return str((await _ec2(cloud, caller, "CreateSecurityGroup", params))["GroupId"])


async def create_security_groups(cloud: Cloud, caller: Caller,
                                 groups: Sequence[NewGroup]) -> list[str | AwsError]:
    """Many ``CreateSecurityGroup`` as ``caller`` in one transaction (EC2-classic: no
    VPC; ``system_tags``: a stack's ``aws:`` tags): each group's id, or the error its
    own call would have answered (only that group is not made)."""
    async def make(allowed: list[int], _: list[Any]) -> list[str | AwsError]:
        return await groups_mod.create_groups(cloud, caller.credential.account_id,
                                              caller.region, [groups[i] for i in allowed])

    return await each_authorized(cloud, caller, "ec2", "CreateSecurityGroup", [
        {"GroupName": group.name, "Description": group.description,
         "TagSpecifications": _tag_specs("security-group", group.tags)}
        for group in groups], make)


async def security_group(cloud: Cloud, caller: Caller, *, group_id: str | None = None,
                         name: str | None = None) -> dict[str, Any] | None:
    """The group (DescribeSecurityGroups' item) by id or name, None when missing."""
    params: dict[str, Any] = {}
    if group_id:
        params["GroupIds"] = [group_id]
    elif name:
        params["Filters"] = [{"Name": "group-name", "Values": [name]}]
    try:
        found = (await _ec2(cloud, caller, "DescribeSecurityGroups", params))
    except AwsError as error:
        if _not_found(error):
            return None
        raise
    groups = found.get("SecurityGroups") or []
    return dict(groups[0]) if groups else None


async def delete_security_group(cloud: Cloud, caller: Caller, group_id: str) -> None:
    try:
        await _ec2(cloud, caller, "DeleteSecurityGroup", {"GroupId": group_id})
    except AwsError as error:
        if not _not_found(error):
            raise


async def delete_security_groups(cloud: Cloud, caller: Caller,
                                 group_ids: Sequence[str]) -> list[AwsError | None]:
    """Many ``DeleteSecurityGroup`` as ``caller``, authorised each, in one transaction
    (one network view version): None for each group deleted or already gone (as
    ``delete_security_group``), or the error its own call would have answered (only
    that group stays). A concurrent change that fails the transaction: each is then
    its own call."""
    from cloudctl.services.ec2.network import group_deletes

    async def make(allowed: list[int], _: list[Any]) -> list[AwsError | None]:
        wanted = [group_ids[i] for i in allowed]
        done = await group_deletes.delete_groups(cloud, caller.credential.account_id,
                                                 caller.region, wanted)
        if done is not None:
            return done
        return [await refusal(_ec2(cloud, caller, "DeleteSecurityGroup", {"GroupId": g}))
                for g in wanted]

    out = await each_authorized(cloud, caller, "ec2", "DeleteSecurityGroup",
                                [{"GroupId": g} for g in group_ids], make)
    return [None if o is not None and _not_found(o) else o for o in out]


async def authorize_ingress(cloud: Cloud, caller: Caller, group_id: str,
                            permissions: list[dict[str, Any]]) -> None:
    await _ec2(cloud, caller, "AuthorizeSecurityGroupIngress",
               {"GroupId": group_id, "IpPermissions": permissions})


async def authorize_egress(cloud: Cloud, caller: Caller, group_id: str,
                           permissions: list[dict[str, Any]]) -> None:
    await _ec2(cloud, caller, "AuthorizeSecurityGroupEgress",
               {"GroupId": group_id, "IpPermissions": permissions})


async def _revoke(cloud: Cloud, caller: Caller, operation: str, group_id: str,
                  permissions: list[dict[str, Any]]) -> None:
    try:
        await _ec2(cloud, caller, operation, {"GroupId": group_id,
                                              "IpPermissions": permissions})
    except AwsError as error:
        if not (_not_found(error) or error.code == "InvalidPermission.NotFound"):
            raise


async def revoke_ingress(cloud: Cloud, caller: Caller, group_id: str,
                         permissions: list[dict[str, Any]]) -> None:
    await _revoke(cloud, caller, "RevokeSecurityGroupIngress", group_id, permissions)


async def revoke_egress(cloud: Cloud, caller: Caller, group_id: str,
                        permissions: list[dict[str, Any]]) -> None:
    await _revoke(cloud, caller, "RevokeSecurityGroupEgress", group_id, permissions)


# -- key pairs -----------------------------------------------------------------------------

async def create_key_pair(cloud: Cloud, caller: Caller, name: str, *, key_type: str = "rsa",
                          tags: Tags | None = None) -> dict[str, Any]:
    return await _ec2(cloud, caller, "CreateKeyPair", {
        "KeyName": name, "KeyType": key_type,
        "TagSpecifications": _tag_specs("key-pair", tags or [])})


async def import_key_pair(cloud: Cloud, caller: Caller, name: str, public_key: str,
                          tags: Tags | None = None) -> dict[str, Any]:
    return await _ec2(cloud, caller, "ImportKeyPair", {
        "KeyName": name, "PublicKeyMaterial": public_key.encode(),
        "TagSpecifications": _tag_specs("key-pair", tags or [])})


async def key_pair(cloud: Cloud, caller: Caller, name: str) -> dict[str, Any] | None:
    try:
        found = await _ec2(cloud, caller, "DescribeKeyPairs", {"KeyNames": [name]})
    except AwsError as error:
        if _not_found(error):
            return None
        raise
    pairs = found.get("KeyPairs") or []
    return dict(pairs[0]) if pairs else None


async def delete_key_pair(cloud: Cloud, caller: Caller, name: str) -> None:
    await _ec2(cloud, caller, "DeleteKeyPair", {"KeyName": name})


# -- volumes -------------------------------------------------------------------------------

async def create_volume(cloud: Cloud, caller: Caller, *, zone: str, size: int | None,
                        snapshot_id: str | None = None, volume_type: str | None = None,
                        iops: int | None = None, token: str | None = None,
                        tags: Tags | None = None) -> str:
    params: dict[str, Any] = {"AvailabilityZone": zone,
                              "TagSpecifications": _tag_specs("volume", tags or [])}
    for key, value in (("Size", size), ("SnapshotId", snapshot_id),
                       ("VolumeType", volume_type), ("Iops", iops), ("ClientToken", token)):
        if value is not None:
            params[key] = value
    return str((await _ec2(cloud, caller, "CreateVolume", params))["VolumeId"])


async def volume(cloud: Cloud, caller: Caller, volume_id: str) -> dict[str, Any] | None:
    try:
        found = await _ec2(cloud, caller, "DescribeVolumes", {"VolumeIds": [volume_id]})
    except AwsError as error:
        if _not_found(error):
            return None
        raise
    volumes = found.get("Volumes") or []
    return dict(volumes[0]) if volumes else None


async def delete_volume(cloud: Cloud, caller: Caller, volume_id: str) -> None:
    try:
        await _ec2(cloud, caller, "DeleteVolume", {"VolumeId": volume_id})
    except AwsError as error:
        if not _not_found(error):
            raise


async def attach_volume(cloud: Cloud, caller: Caller, volume_id: str, instance_id: str,
                        device: str) -> None:
    await _ec2(cloud, caller, "AttachVolume", {"VolumeId": volume_id,
                                               "InstanceId": instance_id, "Device": device})


async def detach_volume(cloud: Cloud, caller: Caller, volume_id: str,
                        instance_id: str) -> None:
    try:
        await _ec2(cloud, caller, "DetachVolume", {"VolumeId": volume_id,
                                                   "InstanceId": instance_id})
    except AwsError as error:
        if not (_not_found(error) or error.code == "IncorrectState"):
            raise


async def create_snapshot(cloud: Cloud, caller: Caller, volume_id: str,
                          description: str) -> str:
    found = await _ec2(cloud, caller, "CreateSnapshot", {"VolumeId": volume_id,
                                                         "Description": description})
    return str(found["SnapshotId"])


# -- addresses -----------------------------------------------------------------------------

async def allocate_address(cloud: Cloud, caller: Caller, *, domain: str = "vpc",
                           tags: Tags | None = None) -> dict[str, Any]:
    return await _ec2(cloud, caller, "AllocateAddress", {
        "Domain": domain, "TagSpecifications": _tag_specs("elastic-ip", tags or [])})


async def release_address(cloud: Cloud, caller: Caller, *, allocation_id: str | None,
                          public_ip: str | None) -> None:
    params = {"AllocationId": allocation_id} if allocation_id else {"PublicIp": public_ip}
    try:
        await _ec2(cloud, caller, "ReleaseAddress", params)
    except AwsError as error:
        if not _not_found(error):
            raise


async def associate_address(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> str:
    """Associate an address (AssociateAddress's members); the association id, else the
    public ip (an EC2-Classic style address has no association id)."""
    found = await _ec2(cloud, caller, "AssociateAddress", params)
    return str(found.get("AssociationId") or params.get("PublicIp") or "")


async def disassociate_address(cloud: Cloud, caller: Caller, association: str) -> None:
    params = ({"AssociationId": association} if association.startswith("eipassoc-")
              else {"PublicIp": association})
    try:
        await _ec2(cloud, caller, "DisassociateAddress", params)
    except AwsError as error:
        if not (_not_found(error) or error.code == "InvalidAssociationID.NotFound"):
            raise


# -- instances -----------------------------------------------------------------------------

async def run_instance(cloud: Cloud, caller: Caller, params: dict[str, Any],
                       token: str) -> str:
    """Run one instance (RunInstances' members) idempotently by ``token``."""
    request = dict(params, MinCount=1, MaxCount=1, ClientToken=token)
    found = await _ec2(cloud, caller, "RunInstances", request)
    return str(found["Instances"][0]["InstanceId"])


async def instance(cloud: Cloud, caller: Caller, instance_id: str) -> dict[str, Any] | None:
    try:
        found = await _ec2(cloud, caller, "DescribeInstances", {"InstanceIds": [instance_id]})
    except AwsError as error:
        if _not_found(error):
            return None
        raise
    for reservation in found.get("Reservations") or []:
        for item in reservation.get("Instances") or []:
            return dict(item)
    return None


async def terminate_instance(cloud: Cloud, caller: Caller, instance_id: str) -> None:
    try:
        await _ec2(cloud, caller, "TerminateInstances", {"InstanceIds": [instance_id]})
    except AwsError as error:
        if not _not_found(error):
            raise


# -- VPC networking ------------------------------------------------------------------------

async def create_vpc(cloud: Cloud, caller: Caller, *, cidr: str, tenancy: str | None = None,
                     tags: Tags | None = None) -> dict[str, Any]:
    """CreateVpc's ``Vpc``."""
    params: dict[str, Any] = {"CidrBlock": cidr,
                              "TagSpecifications": _tag_specs("vpc", tags or [])}
    if tenancy:
        params["InstanceTenancy"] = tenancy
    return dict((await _ec2(cloud, caller, "CreateVpc", params))["Vpc"])


async def vpc_defaults(cloud: Cloud, caller: Caller, vpc_id: str) -> tuple[str, str]:
    """The VPC's default security group id and default network ACL id."""
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
    groups = await _ec2(cloud, caller, "DescribeSecurityGroups", {
        "Filters": filters + [{"Name": "group-name", "Values": ["default"]}]})
    acls = await _ec2(cloud, caller, "DescribeNetworkAcls", {
        "Filters": filters + [{"Name": "default", "Values": ["true"]}]})
    group = (groups.get("SecurityGroups") or [{}])[0].get("GroupId", "")
    acl = (acls.get("NetworkAcls") or [{}])[0].get("NetworkAclId", "")
    return str(group), str(acl)


async def modify_vpc_attribute(cloud: Cloud, caller: Caller, vpc_id: str, name: str,
                               value: bool) -> None:
    """``name``: EnableDnsSupport or EnableDnsHostnames."""
    await _ec2(cloud, caller, "ModifyVpcAttribute", {"VpcId": vpc_id, name: {"Value": value}})


async def create_subnet(cloud: Cloud, caller: Caller, *, vpc_id: str, cidr: str,
                        zone: str | None = None, tags: Tags | None = None) -> dict[str, Any]:
    """CreateSubnet's ``Subnet``."""
    params: dict[str, Any] = {"VpcId": vpc_id, "CidrBlock": cidr,
                              "TagSpecifications": _tag_specs("subnet", tags or [])}
    if zone:
        params["AvailabilityZone"] = zone
    return dict((await _ec2(cloud, caller, "CreateSubnet", params))["Subnet"])


async def subnet(cloud: Cloud, caller: Caller, subnet_id: str) -> dict[str, Any] | None:
    try:
        found = await _ec2(cloud, caller, "DescribeSubnets", {"SubnetIds": [subnet_id]})
    except AwsError as error:
        if _not_found(error):
            return None
        raise
    subnets = found.get("Subnets") or []
    return dict(subnets[0]) if subnets else None


async def modify_subnet_attribute(cloud: Cloud, caller: Caller, subnet_id: str, name: str,
                                  value: bool) -> None:
    """``name``: MapPublicIpOnLaunch (or another boolean subnet attribute)."""
    await _ec2(cloud, caller, "ModifySubnetAttribute",
               {"SubnetId": subnet_id, name: {"Value": value}})


async def create_internet_gateway(cloud: Cloud, caller: Caller,
                                  tags: Tags | None = None) -> str:
    found = await _ec2(cloud, caller, "CreateInternetGateway",
                       {"TagSpecifications": _tag_specs("internet-gateway", tags or [])})
    return str(found["InternetGateway"]["InternetGatewayId"])


async def attach_internet_gateway(cloud: Cloud, caller: Caller, gateway_id: str,
                                  vpc_id: str) -> None:
    await _ec2(cloud, caller, "AttachInternetGateway",
               {"InternetGatewayId": gateway_id, "VpcId": vpc_id})


async def detach_internet_gateway(cloud: Cloud, caller: Caller, gateway_id: str,
                                  vpc_id: str) -> None:
    """Detach; a gateway or attachment already gone is not an error."""
    try:
        await _ec2(cloud, caller, "DetachInternetGateway",
                   {"InternetGatewayId": gateway_id, "VpcId": vpc_id})
    except AwsError as error:
        if not (_not_found(error) or error.code == "Gateway.NotAttached"):
            raise


async def create_route_table(cloud: Cloud, caller: Caller, vpc_id: str,
                             tags: Tags | None = None) -> str:
    found = await _ec2(cloud, caller, "CreateRouteTable", {
        "VpcId": vpc_id, "TagSpecifications": _tag_specs("route-table", tags or [])})
    return str(found["RouteTable"]["RouteTableId"])


async def create_route(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    """CreateRoute with its request parameters (RouteTableId, destination, target)."""
    await _ec2(cloud, caller, "CreateRoute", params)


async def delete_route(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> None:
    """DeleteRoute (RouteTableId and destination); a route already gone is not an error."""
    try:
        await _ec2(cloud, caller, "DeleteRoute", params)
    except AwsError as error:
        if not _not_found(error):
            raise


async def associate_route_table(cloud: Cloud, caller: Caller, route_table_id: str,
                                subnet_id: str) -> str:
    found = await _ec2(cloud, caller, "AssociateRouteTable",
                       {"RouteTableId": route_table_id, "SubnetId": subnet_id})
    return str(found["AssociationId"])


async def disassociate_route_table(cloud: Cloud, caller: Caller, association_id: str) -> None:
    try:
        await _ec2(cloud, caller, "DisassociateRouteTable", {"AssociationId": association_id})
    except AwsError as error:
        if not _not_found(error):
            raise


async def create_network_acl(cloud: Cloud, caller: Caller, vpc_id: str,
                             tags: Tags | None = None) -> str:
    found = await _ec2(cloud, caller, "CreateNetworkAcl", {
        "VpcId": vpc_id, "TagSpecifications": _tag_specs("network-acl", tags or [])})
    return str(found["NetworkAcl"]["NetworkAclId"])


async def create_network_acl_entry(cloud: Cloud, caller: Caller,
                                   params: dict[str, Any]) -> None:
    """CreateNetworkAclEntry with its request parameters."""
    await _ec2(cloud, caller, "CreateNetworkAclEntry", params)


async def delete_network_acl_entry(cloud: Cloud, caller: Caller, acl_id: str, rule: int,
                                   egress: bool) -> None:
    try:
        await _ec2(cloud, caller, "DeleteNetworkAclEntry",
                   {"NetworkAclId": acl_id, "RuleNumber": rule, "Egress": egress})
    except AwsError as error:
        if not _not_found(error):
            raise


async def replace_subnet_acl(cloud: Cloud, caller: Caller, subnet_id: str,
                             acl_id: str | None) -> str:
    """Associate the subnet with ``acl_id`` (None: its VPC's default ACL); the new
    association id."""
    current = await _ec2(cloud, caller, "DescribeNetworkAcls", {
        "Filters": [{"Name": "association.subnet-id", "Values": [subnet_id]}]})
    acls = current.get("NetworkAcls") or []
    if not acls:
        raise AwsError(f"The subnet ID '{subnet_id}' does not exist",
                       code="InvalidSubnetID.NotFound")
    association = next(a["NetworkAclAssociationId"] for a in acls[0]["Associations"]
                       if a["SubnetId"] == subnet_id)
    if acl_id is None:
        _, acl_id = await vpc_defaults(cloud, caller, str(acls[0]["VpcId"]))
    found = await _ec2(cloud, caller, "ReplaceNetworkAclAssociation",
                       {"AssociationId": association, "NetworkAclId": acl_id})
    return str(found["NewAssociationId"])


async def create_dhcp_options(cloud: Cloud, caller: Caller,
                              configurations: list[dict[str, Any]],
                              tags: Tags | None = None) -> str:
    found = await _ec2(cloud, caller, "CreateDhcpOptions", {
        "DhcpConfigurations": configurations,
        "TagSpecifications": _tag_specs("dhcp-options", tags or [])})
    return str(found["DhcpOptions"]["DhcpOptionsId"])


async def associate_dhcp_options(cloud: Cloud, caller: Caller, options_id: str,
                                 vpc_id: str) -> None:
    """``options_id`` "default" restores the default options."""
    await _ec2(cloud, caller, "AssociateDhcpOptions",
               {"DhcpOptionsId": options_id, "VpcId": vpc_id})


async def create_nat_gateway(cloud: Cloud, caller: Caller, params: dict[str, Any]) -> str:
    """CreateNatGateway with its request parameters; the gateway id."""
    found = await _ec2(cloud, caller, "CreateNatGateway", params)
    return str(found["NatGateway"]["NatGatewayId"])


async def nat_gateway(cloud: Cloud, caller: Caller, gateway_id: str) -> dict[str, Any] | None:
    try:
        found = await _ec2(cloud, caller, "DescribeNatGateways",
                           {"NatGatewayIds": [gateway_id]})
    except AwsError as error:
        if _not_found(error):
            return None
        raise
    items = found.get("NatGateways") or []
    return dict(items[0]) if items else None


async def create_network_interface(cloud: Cloud, caller: Caller,
                                   params: dict[str, Any]) -> dict[str, Any]:
    """CreateNetworkInterface with its request parameters; its ``NetworkInterface``."""
    found = await _ec2(cloud, caller, "CreateNetworkInterface", params)
    return dict(found["NetworkInterface"])


async def network_interface(cloud: Cloud, caller: Caller,
                            interface_id: str) -> dict[str, Any] | None:
    try:
        found = await _ec2(cloud, caller, "DescribeNetworkInterfaces",
                           {"NetworkInterfaceIds": [interface_id]})
    except AwsError as error:
        if _not_found(error):
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
        await _ec2(cloud, caller, operation, {member: resource_id})
    except AwsError as error:
        if not _not_found(error):
            raise


# -- launch templates ----------------------------------------------------------------------

async def create_launch_template(cloud: Cloud, caller: Caller,
                                 params: dict[str, Any]) -> dict[str, Any]:
    """CreateLaunchTemplate with its request parameters; its ``LaunchTemplate``."""
    found = await _ec2(cloud, caller, "CreateLaunchTemplate", params)
    return dict(found["LaunchTemplate"])


async def create_launch_template_version(cloud: Cloud, caller: Caller, template_id: str,
                                         data: dict[str, Any],
                                         description: str | None = None) -> int:
    """A new version of the template; its number."""
    params: dict[str, Any] = {"LaunchTemplateId": template_id, "LaunchTemplateData": data}
    if description:
        params["VersionDescription"] = description
    found = await _ec2(cloud, caller, "CreateLaunchTemplateVersion", params)
    return int(found["LaunchTemplateVersion"]["VersionNumber"])


async def set_default_launch_template_version(cloud: Cloud, caller: Caller,
                                              template_id: str, version: int) -> None:
    await _ec2(cloud, caller, "ModifyLaunchTemplate",
               {"LaunchTemplateId": template_id, "DefaultVersion": str(version)})


async def delete_launch_template(cloud: Cloud, caller: Caller, template_id: str) -> None:
    """Delete the template; one already gone is not an error."""
    try:
        await _ec2(cloud, caller, "DeleteLaunchTemplate", {"LaunchTemplateId": template_id})
    except AwsError as error:
        if not (_not_found(error) or "NotFound" in error.code):
            raise


# -- lookups -------------------------------------------------------------------------------

_LOOKUPS: dict[str, tuple[str, str, str, str]] = {
    # parameter type: operation, filter name, result list, id member
    "AWS::EC2::KeyPair::KeyName": ("DescribeKeyPairs", "key-name", "KeyPairs", "KeyName"),
    "AWS::EC2::Image::Id": ("DescribeImages", "image-id", "Images", "ImageId"),
    "AWS::EC2::Instance::Id": ("DescribeInstances", "instance-id", "Reservations", ""),
    "AWS::EC2::SecurityGroup::Id": ("DescribeSecurityGroups", "group-id", "SecurityGroups",
                                    "GroupId"),
    "AWS::EC2::SecurityGroup::GroupName": ("DescribeSecurityGroups", "group-name",
                                           "SecurityGroups", "GroupName"),
    "AWS::EC2::Volume::Id": ("DescribeVolumes", "volume-id", "Volumes", "VolumeId"),
    "AWS::EC2::VPC::Id": ("DescribeVpcs", "vpc-id", "Vpcs", "VpcId"),
    "AWS::EC2::Subnet::Id": ("DescribeSubnets", "subnet-id", "Subnets", "SubnetId"),
    "AWS::EC2::AvailabilityZone::Name": ("DescribeAvailabilityZones", "zone-name",
                                         "AvailabilityZones", "ZoneName"),
}


def lookup_types() -> set[str]:
    return set(_LOOKUPS)


async def existing_ids(cloud: Cloud, caller: Caller, kind: str,
                       values: list[str]) -> set[str]:
    """Which of ``values`` name an existing resource of parameter type ``kind``."""
    operation, filter_name, key, member = _LOOKUPS[kind]
    if not values:
        return set()
    params: dict[str, Any] = {"Filters": [{"Name": filter_name, "Values": values}]}
    try:
        found = await _ec2(cloud, caller, operation, params)
    except AwsError as error:
        if _not_found(error) or error.code.startswith("InvalidParameterValue"):
            return set()
        raise
    if kind == "AWS::EC2::Instance::Id":
        return {i["InstanceId"] for r in found.get(key) or [] for i in r.get("Instances", [])}
    return {str(item.get(member)) for item in found.get(key) or []}


async def zones(cloud: Cloud, caller: Caller) -> list[str]:
    found = await _ec2(cloud, caller, "DescribeAvailabilityZones", {})
    return sorted(str(z["ZoneName"]) for z in found.get("AvailabilityZones") or [])


async def create_tags(cloud: Cloud, caller: Caller, resource_ids: list[str],
                      tags: Tags) -> None:
    if tags:
        await _ec2(cloud, caller, "CreateTags", {"Resources": resource_ids, "Tags": tags})


async def system_tags(cloud: Cloud, caller: Caller, resource_ids: list[str],
                      tags: Tags) -> None:
    """Set ``aws:`` tags (reserved to services) on resources of the caller's account."""
    from sqlalchemy import select

    from cloudctl.services.ec2.shared.tags import Tag, resource_type_of

    if not tags or not resource_ids:
        return
    account, region = caller.credential.account_id, caller.region
    async with cloud.sessions() as session, session.begin():
        rows = (await session.execute(select(Tag).where(
            Tag.account_id == account, Tag.region == region,
            Tag.resource_id.in_(resource_ids)))).scalars().all()
        existing = {(r.resource_id, r.key): r for r in rows}
        for rid in resource_ids:
            for tag in tags:
                row = existing.get((rid, tag["Key"]))
                if row is None:
                    session.add(Tag(account_id=account, region=region, resource_id=rid,
                                    key=tag["Key"], value=tag.get("Value", ""),
                                    resource_type=resource_type_of(rid)))
                else:
                    row.value = tag.get("Value", "")


@dataclass(frozen=True)
class InstanceFacts:
    """What other services may know of an instance."""

    instance_id: str
    zone: str
    state: str
    private_ip: str | None
    public_ip: str | None


async def instance_facts(session: AsyncSession, account_id: str, region: str,
                         ids: Sequence[str]) -> dict[str, InstanceFacts]:
    """Instance id -> facts, for the instances of ``ids`` the account has in ``region``
    (terminated ones included: their state says so)."""
    if not ids:
        return {}
    rows = (await session.execute(select(Instance).where(
        Instance.instance_id.in_(list(ids)), Instance.account_id == account_id,
        Instance.region == region))).scalars().all()
    return {r.instance_id: InstanceFacts(r.instance_id, r.zone, r.state, r.private_ip,
                                         r.public_ip) for r in rows}


# -- interfaces a service places in subnets (a load balancer's) ----------------------------
# In the caller's session and transaction, as the service itself (requester-managed):
# ``service_subnets``, ``service_groups``, ``vpc_default_group``,
# ``service_interfaces``, ``sync_service_interfaces``; ``vpc_changed`` after the commit.

async def service_subnets(session: AsyncSession, account_id: str, region: str,
                          subnet_ids: Sequence[str]) -> dict[str, SubnetFacts]:
    """Subnet id -> its VPC, zone and CIDR, for the account's subnets among ``subnet_ids``."""
    return await service_interfaces_mod.subnets(session, account_id, region, list(subnet_ids))


async def service_groups(session: AsyncSession, account_id: str, region: str,
                         group_ids: Sequence[str]) -> dict[str, str]:
    """Group id -> VPC id ("" outside a VPC), for the account's groups among ``group_ids``."""
    return await service_interfaces_mod.security_groups(session, account_id, region,
                                                        list(group_ids))


async def vpc_default_group(session: AsyncSession, vpc_id: str) -> str | None:
    return await service_interfaces_mod.default_group(session, vpc_id)


async def security_group_names(session: AsyncSession,
                               group_ids: Sequence[str]) -> dict[str, str]:
    """Group id -> name, for those of ``group_ids`` that exist."""
    from cloudctl.services.ec2.vpc.interfaces import group_names

    return await group_names(session, set(group_ids))


async def service_interfaces(session: AsyncSession, account_id: str, region: str,
                             description: str) -> list[ServiceInterface]:
    """The requester-managed interfaces of the account described ``description``."""
    return await service_interfaces_mod.interfaces(session, account_id, region, description)


async def sync_service_interfaces(session: AsyncSession, account_id: str, region: str,
                                  description: str, subnet_ids: Sequence[str],
                                  group_ids: Sequence[str], *,
                                  public: bool = False) -> list[ServiceInterface]:
    """One requester-managed interface described ``description`` in each subnet of
    ``subnet_ids`` (none: all removed), each in ``group_ids``, with a public address
    (mapped by the VPC's internet gateway) when ``public``."""
    return await service_interfaces_mod.sync_interfaces(
        session, account_id, region, description, list(subnet_ids), list(group_ids),
        public)


def vpc_changed(cloud: Cloud) -> None:
    """Wake the VPC topology publisher after a committed ``sync_service_interfaces``."""
    from cloudctl.services.ec2.vpc.common import changed

    changed(cloud)


def register_source_groups(resolver: Any) -> None:
    """A service's source security groups usable in EDGE group rules: ``resolver(session,
    region, group_name)`` answers the owning account of such a group, else None (ELB's
    ``default_elb_<id>``)."""
    from cloudctl.services.ec2.network.security_groups import SOURCE_GROUPS

    if resolver not in SOURCE_GROUPS:
        SOURCE_GROUPS.append(resolver)


async def default_subnets(cloud: Cloud, account_id: str, region: str,
                          zones: Sequence[str]) -> dict[str, str] | None:
    """Zone -> the account's default subnet there (its default VPC made first), for the
    zones of ``zones`` that have one; None when the cloud is not in VPC mode (no default
    VPC: EC2-Classic-like placement)."""
    from cloudctl.services.ec2.vpc.build import ensure_default_vpc, find_default_vpc
    from cloudctl.services.ec2.vpc.common import network_mode
    from cloudctl.services.ec2.vpc.models import SubnetRow

    if network_mode(cloud) != "VPC":
        return None
    await ensure_default_vpc(cloud, account_id, region)
    async with cloud.sessions() as session:
        vpc = await find_default_vpc(session, account_id, region)
        if vpc is None:
            return {}
        rows = (await session.execute(select(SubnetRow).where(
            SubnetRow.vpc_id == vpc.vpc_id, SubnetRow.default_for_az.is_(True),
            SubnetRow.zone.in_(list(zones))))).scalars()
        return {r.zone: r.subnet_id for r in rows}
