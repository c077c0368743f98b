"""VPC resource types: VPC, Subnet, InternetGateway, VPCGatewayAttachment, RouteTable,
Route, SubnetRouteTableAssociation, NetworkAcl(+Entry, SubnetNetworkAclAssociation),
DHCPOptions(+VPCDHCPOptionsAssociation), NatGateway (ready when available),
NetworkInterface, and LaunchTemplate, over ``cloudctl.services.ec2.api``.

Each is made by its EC2 operation as the stack's principal; deletion of something
already gone succeeds. The EC2 calls creating a VPC, subnet, internet gateway, route
table, network ACL or DHCP options set take no ClientToken: a resumed create (a crash
after the create, before the stack recorded it) first looks for the object carrying
the stack's ``aws:cloudformation:stack-id``/``logical-id`` tags that no row of the
stack records, and adopts it. Ref is the resource id (a gateway attachment's and a route's
are CloudFormation's generated ids); the attributes are those of the AWS handlers.
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.server.internal import call
from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.resources.base import Act, Outcome, ResourceType
from cloudctl.services.cloudformation.resources.ec2 import _system_tags, _tags
from cloudctl.services.ec2 import api as ec2


async def adopted(act: Act, operation: str, items: str, key: str) -> dict[str, Any] | None:
    """On a resumed create, the object this create made before a crash (tagged with the
    stack and logical id, recorded by no row of the stack), None when there is none."""
    if not act.resumed:
        return None
    found = await call(act.cloud, act.caller, "ec2", operation, {"Filters": [
        {"Name": "tag:aws:cloudformation:stack-id", "Values": [act.stack_id]},
        {"Name": "tag:aws:cloudformation:logical-id", "Values": [act.logical_id]}]})
    for item in found.get(items) or []:
        if item.get(key) not in act.taken:
            return dict(item)
    return None


class _TaggedVpcObject(ResourceType):
    """A VPC object whose only updatable property is its tags, deleted by its id."""

    updatable = frozenset({"Tags"})
    takes_tags = True

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        if new.get("Tags"):
            await ec2.create_tags(act.cloud, act.caller, [physical_id], new["Tags"])
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_vpc_resource(act.cloud, act.caller, physical_id)


class VPC(ResourceType):
    type_name = "AWS::EC2::VPC"
    extra_attributes = frozenset({"CidrBlock"})
    updatable = frozenset({"EnableDnsSupport", "EnableDnsHostnames", "Tags"})
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        vpc = await adopted(act, "DescribeVpcs", "Vpcs", "VpcId") or \
            await ec2.create_vpc(act.cloud, act.caller, cidr=props["CidrBlock"],
                                 tenancy=props.get("InstanceTenancy"),
                                 tags=_tags(act, props))
        vpc_id = str(vpc["VpcId"])
        await _system_tags(act, vpc_id)
        await self._dns(act, vpc_id, {}, props)
        group, acl = await ec2.vpc_defaults(act.cloud, act.caller, vpc_id)
        associations = [a["AssociationId"] for a in vpc.get("CidrBlockAssociationSet") or []]
        return Outcome(vpc_id, {"VpcId": vpc_id, "CidrBlock": vpc["CidrBlock"],
                                "DefaultSecurityGroup": group, "DefaultNetworkAcl": acl,
                                "CidrBlockAssociations": associations,
                                "Ipv6CidrBlocks": []})

    @staticmethod
    async def _dns(act: Act, vpc_id: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for name, default in (("EnableDnsSupport", True), ("EnableDnsHostnames", False)):
            value = bool(new.get(name, default))
            if value != bool(old.get(name, default)) or (not old and value != default):
                await ec2.modify_vpc_attribute(act.cloud, act.caller, vpc_id, name, value)

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await self._dns(act, physical_id, old, new)
        if old.get("Tags") != new.get("Tags") and new.get("Tags"):
            await ec2.create_tags(act.cloud, act.caller, [physical_id], new["Tags"])
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_vpc_resource(act.cloud, act.caller, physical_id)


class Subnet(ResourceType):
    type_name = "AWS::EC2::Subnet"
    extra_attributes = frozenset({"AvailabilityZone", "AvailabilityZoneId", "CidrBlock",
                                  "VpcId", "OutpostArn"})
    updatable = frozenset({"MapPublicIpOnLaunch", "Tags"})
    takes_tags = True
    drift_keys = ("CidrBlock", "MapPublicIpOnLaunch", "AvailabilityZone", "VpcId")

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.subnet(act.cloud, act.caller, physical_id)
        if found is None:
            return None
        return {key: found.get(key) for key in self.drift_keys}

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        found = await adopted(act, "DescribeSubnets", "Subnets", "SubnetId") or \
            await ec2.create_subnet(act.cloud, act.caller, vpc_id=props["VpcId"],
                                    cidr=props["CidrBlock"],
                                    zone=props.get("AvailabilityZone"),
                                    tags=_tags(act, props))
        subnet_id = str(found["SubnetId"])
        await _system_tags(act, subnet_id)
        if props.get("MapPublicIpOnLaunch"):
            await ec2.modify_subnet_attribute(act.cloud, act.caller, subnet_id,
                                              "MapPublicIpOnLaunch", True)
        return Outcome(subnet_id, {
            "SubnetId": subnet_id, "VpcId": found["VpcId"], "CidrBlock": found["CidrBlock"],
            "AvailabilityZone": found["AvailabilityZone"],
            "AvailabilityZoneId": found.get("AvailabilityZoneId", ""), "OutpostArn": "",
            "Ipv6CidrBlocks": [], "NetworkAclAssociationId": ""})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        if bool(old.get("MapPublicIpOnLaunch")) != bool(new.get("MapPublicIpOnLaunch")):
            await ec2.modify_subnet_attribute(act.cloud, act.caller, physical_id,
                                              "MapPublicIpOnLaunch",
                                              bool(new.get("MapPublicIpOnLaunch")))
        if old.get("Tags") != new.get("Tags") and new.get("Tags"):
            await ec2.create_tags(act.cloud, act.caller, [physical_id], new["Tags"])
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_vpc_resource(act.cloud, act.caller, physical_id)


class InternetGateway(_TaggedVpcObject):
    type_name = "AWS::EC2::InternetGateway"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        found = await adopted(act, "DescribeInternetGateways", "InternetGateways",
                              "InternetGatewayId")
        gateway_id = found["InternetGatewayId"] if found else \
            await ec2.create_internet_gateway(act.cloud, act.caller, _tags(act, props))
        await _system_tags(act, gateway_id)
        return Outcome(gateway_id, {"InternetGatewayId": gateway_id})


class VPCGatewayAttachment(ResourceType):
    type_name = "AWS::EC2::VPCGatewayAttachment"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        gateway_id = props.get("InternetGatewayId")
        if not gateway_id:
            raise ResourceFailure("only InternetGatewayId attachments are supported")
        await ec2.attach_internet_gateway(act.cloud, act.caller, gateway_id, props["VpcId"])
        return Outcome(f"IGW|{props['VpcId']}", {"AttachmentType": "igw",
                                                 "VpcId": props["VpcId"]})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        if props.get("InternetGatewayId"):
            await ec2.detach_internet_gateway(act.cloud, act.caller,
                                              props["InternetGatewayId"], props["VpcId"])


class RouteTable(_TaggedVpcObject):
    type_name = "AWS::EC2::RouteTable"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        found = await adopted(act, "DescribeRouteTables", "RouteTables", "RouteTableId")
        table_id = found["RouteTableId"] if found else \
            await ec2.create_route_table(act.cloud, act.caller, props["VpcId"],
                                         _tags(act, props))
        await _system_tags(act, table_id)
        return Outcome(table_id, {"RouteTableId": table_id})



_DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock",
                 "DestinationPrefixListId")
_TARGETS = ("GatewayId", "NatGatewayId", "InstanceId", "NetworkInterfaceId",
            "VpcPeeringConnectionId", "TransitGatewayId", "EgressOnlyInternetGatewayId",
            "CarrierGatewayId", "LocalGatewayId", "VpcEndpointId", "CoreNetworkArn")


class Route(ResourceType):
    type_name = "AWS::EC2::Route"

    @staticmethod
    def _where(props: dict[str, Any]) -> dict[str, Any]:
        where = {"RouteTableId": props["RouteTableId"]}
        where.update({k: props[k] for k in _DESTINATIONS if props.get(k)})
        return where

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        params = self._where(props)
        params.update({k: props[k] for k in _TARGETS if props.get(k)})
        await ec2.create_route(act.cloud, act.caller, params)
        destination = next((props[k] for k in _DESTINATIONS if props.get(k)), "")
        return Outcome(f"{props['RouteTableId']}|{destination}",
                       {"CidrBlock": props.get("DestinationCidrBlock", "")})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_route(act.cloud, act.caller, self._where(props))


class SubnetRouteTableAssociation(ResourceType):
    type_name = "AWS::EC2::SubnetRouteTableAssociation"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        association = await ec2.associate_route_table(act.cloud, act.caller,
                                                      props["RouteTableId"],
                                                      props["SubnetId"])
        return Outcome(association, {"Id": association})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.disassociate_route_table(act.cloud, act.caller, physical_id)


class LaunchTemplate(ResourceType):
    """A launch template; a change of its data adds a version that becomes the default
    (as CloudFormation updates one). Ref is the template id."""

    type_name = "AWS::EC2::LaunchTemplate"
    updatable = frozenset({"LaunchTemplateData", "VersionDescription"})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("LaunchTemplateName") or act.physical_name(128)
        params: dict[str, Any] = {"LaunchTemplateName": name,
                                  "LaunchTemplateData": props.get("LaunchTemplateData") or {}}
        if props.get("VersionDescription"):
            params["VersionDescription"] = props["VersionDescription"]
        specs = list(props.get("TagSpecifications") or [])
        if act.user_tags():
            specs.append({"ResourceType": "launch-template", "Tags": act.user_tags()})
        if specs:
            params["TagSpecifications"] = specs
        found = await ec2.create_launch_template(act.cloud, act.caller, params)
        template_id = str(found["LaunchTemplateId"])
        return Outcome(template_id, {
            "LaunchTemplateId": template_id,
            "LatestVersionNumber": str(found.get("LatestVersionNumber", 1)),
            "DefaultVersionNumber": str(found.get("DefaultVersionNumber", 1))})

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        version = await ec2.create_launch_template_version(
            act.cloud, act.caller, physical_id, new.get("LaunchTemplateData") or {},
            new.get("VersionDescription"))
        await ec2.set_default_launch_template_version(act.cloud, act.caller, physical_id,
                                                      version)
        return {**attributes, "LatestVersionNumber": str(version),
                "DefaultVersionNumber": str(version)}

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_launch_template(act.cloud, act.caller, physical_id)


class NetworkAcl(_TaggedVpcObject):
    type_name = "AWS::EC2::NetworkAcl"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        found = await adopted(act, "DescribeNetworkAcls", "NetworkAcls", "NetworkAclId")
        acl_id = found["NetworkAclId"] if found else \
            await ec2.create_network_acl(act.cloud, act.caller, props["VpcId"],
                                         _tags(act, props))
        await _system_tags(act, acl_id)
        return Outcome(acl_id, {"Id": acl_id})


class NetworkAclEntry(ResourceType):
    """One ACL rule; Ref is a generated id (``acl-id|rule|egress``)."""

    type_name = "AWS::EC2::NetworkAclEntry"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        egress = bool(props.get("Egress", False))
        params: dict[str, Any] = {"NetworkAclId": props["NetworkAclId"],
                                  "RuleNumber": int(props["RuleNumber"]),
                                  "Protocol": str(props["Protocol"]),
                                  "RuleAction": props["RuleAction"], "Egress": egress}
        for key in ("CidrBlock", "Ipv6CidrBlock"):
            if props.get(key):
                params[key] = props[key]
        if props.get("PortRange"):
            params["PortRange"] = {k: int(v) for k, v in props["PortRange"].items()}
        if props.get("Icmp"):
            params["IcmpTypeCode"] = {k: int(v) for k, v in props["Icmp"].items()}
        await ec2.create_network_acl_entry(act.cloud, act.caller, params)
        entry_id = f"{props['NetworkAclId']}|{int(props['RuleNumber'])}|{str(egress).lower()}"
        return Outcome(entry_id, {"Id": entry_id})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_network_acl_entry(act.cloud, act.caller, props["NetworkAclId"],
                                           int(props["RuleNumber"]),
                                           bool(props.get("Egress", False)))


class SubnetNetworkAclAssociation(ResourceType):
    """The subnet moved to the ACL; deletion moves it back to its VPC's default ACL."""

    type_name = "AWS::EC2::SubnetNetworkAclAssociation"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        association = await ec2.replace_subnet_acl(act.cloud, act.caller, props["SubnetId"],
                                                   props["NetworkAclId"])
        return Outcome(association, {"AssociationId": association})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        if await ec2.subnet(act.cloud, act.caller, props["SubnetId"]) is not None:
            await ec2.replace_subnet_acl(act.cloud, act.caller, props["SubnetId"], None)


_DHCP = {"DomainName": "domain-name", "DomainNameServers": "domain-name-servers",
         "NtpServers": "ntp-servers", "NetbiosNameServers": "netbios-name-servers",
         "NetbiosNodeType": "netbios-node-type"}


class DHCPOptions(ResourceType):
    type_name = "AWS::EC2::DHCPOptions"
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        configurations = []
        for prop, key in _DHCP.items():
            value = props.get(prop)
            if value not in (None, "", []):
                values = value if isinstance(value, list) else [value]
                configurations.append({"Key": key, "Values": [str(v) for v in values]})
        found = await adopted(act, "DescribeDhcpOptions", "DhcpOptions", "DhcpOptionsId")
        options_id = found["DhcpOptionsId"] if found else \
            await ec2.create_dhcp_options(act.cloud, act.caller, configurations,
                                          _tags(act, props))
        await _system_tags(act, options_id)
        return Outcome(options_id, {"DhcpOptionsId": options_id})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_vpc_resource(act.cloud, act.caller, physical_id)


class VPCDHCPOptionsAssociation(ResourceType):
    """The VPC's options set; deletion restores the default options."""

    type_name = "AWS::EC2::VPCDHCPOptionsAssociation"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        await ec2.associate_dhcp_options(act.cloud, act.caller, props["DhcpOptionsId"],
                                         props["VpcId"])
        return Outcome(f"{props['DhcpOptionsId']}|{props['VpcId']}")

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        try:
            await ec2.associate_dhcp_options(act.cloud, act.caller, "default", props["VpcId"])
        except AwsError as error:
            if not error.code.endswith("NotFound"):
                raise


class NatGateway(ResourceType):
    """A NAT gateway, ready when ``available``; deletion waits for ``deleted``."""

    type_name = "AWS::EC2::NatGateway"
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        params: dict[str, Any] = {"SubnetId": props["SubnetId"], "ClientToken": act.token[:64]}
        for key in ("AllocationId", "ConnectivityType", "PrivateIpAddress"):
            if props.get(key):
                params[key] = props[key]
        tags = _tags(act, props)
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "natgateway", "Tags": tags}]
        gateway_id = await ec2.create_nat_gateway(act.cloud, act.caller, params)
        return Outcome(gateway_id, {"NatGatewayId": gateway_id})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        found = await ec2.nat_gateway(act.cloud, act.caller, physical_id) or {}
        state = found.get("State")
        if state == "failed":
            raise ResourceFailure(found.get("FailureMessage") or "NAT gateway failed")
        if state != "available":
            return None
        addresses = found.get("NatGatewayAddresses") or [{}]
        return {**attributes, "EniId": addresses[0].get("NetworkInterfaceId", "")}

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_vpc_resource(act.cloud, act.caller, physical_id)

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        found = await ec2.nat_gateway(act.cloud, act.caller, physical_id)
        return found is None or found.get("State") == "deleted"


class NetworkInterface(ResourceType):
    type_name = "AWS::EC2::NetworkInterface"
    takes_tags = True

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        params: dict[str, Any] = {"SubnetId": props["SubnetId"]}
        for key in ("Description", "PrivateIpAddress"):
            if props.get(key):
                params[key] = props[key]
        if props.get("GroupSet"):
            params["Groups"] = props["GroupSet"]
        if props.get("SecondaryPrivateIpAddressCount") not in (None, ""):
            params["SecondaryPrivateIpAddressCount"] = int(
                props["SecondaryPrivateIpAddressCount"])
        tags = _tags(act, props)
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "network-interface",
                                            "Tags": tags}]
        found = await ec2.create_network_interface(act.cloud, act.caller, params)
        interface_id = str(found["NetworkInterfaceId"])
        secondary = [a["PrivateIpAddress"] for a in found.get("PrivateIpAddresses") or []
                     if not a.get("Primary")]
        return Outcome(interface_id, {
            "Id": interface_id, "PrimaryPrivateIpAddress": found.get("PrivateIpAddress", ""),
            "SecondaryPrivateIpAddresses": secondary, "VpcId": found.get("VpcId", "")})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await ec2.delete_vpc_resource(act.cloud, act.caller, physical_id)


TYPES: tuple[type[ResourceType], ...] = (
    VPC, Subnet, InternetGateway, VPCGatewayAttachment, RouteTable, Route,
    SubnetRouteTableAssociation, LaunchTemplate, NetworkAcl, NetworkAclEntry,
    SubnetNetworkAclAssociation, DHCPOptions, VPCDHCPOptionsAssociation, NatGateway,
    NetworkInterface)
