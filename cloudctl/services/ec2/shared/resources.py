"""The EC2 resource types: one registry feeding ARNs, tag kinds and id checks.

Each type is registered once with its id prefixes, its ARN resource type (None: IAM sees
its operations on ``*``), its DescribeTags ``ResourceType`` (None: not taggable), the AWS
codes for a malformed and for an unknown id, and the operations that name it in a
parameter (``arns`` builds each operation's resources from these, in registration order).
``arns``, ``tags`` and every id check (``INSTANCE.check(...)``) read this module; adding a
resource type is one ``register`` call here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cloudctl.services.ids import IdKind


@dataclass(frozen=True)
class ResourceType:
    """One kind of EC2 resource."""

    kind: str  # the name used in code (ARN resource type where it has one)
    prefixes: tuple[str, ...]  # id prefixes; the first is the one ids are created with
    arn_type: str | None = None
    arn_account: bool = True  # images and snapshots: ``arn:aws:ec2:REGION::image/...``
    tag_type: str | None = None
    malformed: str | None = None  # code for a malformed id (None: EC2 documents none)
    not_found: str | None = None
    # (operation, parameter) naming resources of this type for IAM
    named_by: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ids(self) -> IdKind:
        """The id format check of this type (``check``, ``check_all``, ``matches``)."""
        if self.malformed is None or self.not_found is None:
            raise TypeError(f"{self.kind} ids have no format check")
        return IdKind(self.prefixes, self.malformed, self.not_found)

    def check(self, value: Any) -> str:
        return self.ids.check(value)

    def check_all(self, values: Iterable[Any]) -> list[str]:
        return self.ids.check_all(values)

    def matches(self, value: str) -> bool:
        return self.ids.matches(value)


_TYPES: list[ResourceType] = []
_BY_PREFIX: dict[str, ResourceType] = {}


def register(resource: ResourceType) -> ResourceType:
    """Add ``resource`` (its prefixes must be new)."""
    for prefix in resource.prefixes:
        if prefix in _BY_PREFIX:
            raise ValueError(f"id prefix {prefix!r} is already {_BY_PREFIX[prefix].kind}")
    _TYPES.append(resource)
    for prefix in resource.prefixes:
        _BY_PREFIX[prefix] = resource
    return resource


def by_prefix(prefix: str) -> ResourceType | None:
    return _BY_PREFIX.get(prefix)


def all_types() -> tuple[ResourceType, ...]:
    return tuple(_TYPES)


def _each(ops: Iterable[str], parameter: str) -> tuple[tuple[str, str], ...]:
    return tuple((op, parameter) for op in ops)


# Registration order is the order an operation's resources are listed to IAM
# (AssociateAddress: the address, then the instance; AttachVolume: instance, volume).
ELASTIC_IP = register(ResourceType(
    "elastic-ip", ("eipalloc",), arn_type="elastic-ip", tag_type="elastic-ip",
    malformed="InvalidAllocationID.Malformed", not_found="InvalidAllocationID.NotFound",
    named_by=_each(("AssociateAddress", "ReleaseAddress"), "AllocationId")))
INSTANCE = register(ResourceType(
    "instance", ("i",), arn_type="instance", tag_type="instance",
    malformed="InvalidInstanceID.Malformed", not_found="InvalidInstanceID.NotFound",
    named_by=_each(("TerminateInstances", "StopInstances", "StartInstances",
                    "RebootInstances", "MonitorInstances", "UnmonitorInstances"),
                   "InstanceIds") + _each(
        ("ModifyInstanceAttribute", "ResetInstanceAttribute", "GetConsoleOutput",
         "GetConsoleScreenshot", "GetPasswordData", "CreateImage", "AttachVolume",
         "DetachVolume", "AssociateAddress"), "InstanceId")))
LAUNCH_TEMPLATE = register(ResourceType(
    "launch-template", ("lt",), arn_type="launch-template", tag_type="launch-template",
    malformed="InvalidLaunchTemplateId.Malformed",
    not_found="InvalidLaunchTemplateId.NotFound",
    named_by=(("DeleteLaunchTemplate", "LaunchTemplateId"),
              ("ModifyLaunchTemplate", "LaunchTemplateId"),
              ("CreateLaunchTemplateVersion", "LaunchTemplateId"))))
RESERVATION = register(ResourceType(
    "reservation", ("r",), malformed="InvalidReservationID.Malformed",
    not_found="InvalidReservationID.NotFound"))
VOLUME = register(ResourceType(
    "volume", ("vol",), arn_type="volume", tag_type="volume",
    malformed="InvalidVolumeID.Malformed", not_found="InvalidVolume.NotFound",
    named_by=_each(("AttachVolume", "DetachVolume", "DeleteVolume", "ModifyVolume",
                    "CreateSnapshot"), "VolumeId")))
SNAPSHOT = register(ResourceType(
    "snapshot", ("snap",), arn_type="snapshot", arn_account=False, tag_type="snapshot",
    malformed="InvalidSnapshotID.Malformed", not_found="InvalidSnapshot.NotFound",
    named_by=_each(("DeleteSnapshot", "ModifySnapshotAttribute", "ResetSnapshotAttribute"),
                   "SnapshotId") + (("CopySnapshot", "SourceSnapshotId"),)))
SECURITY_GROUP = register(ResourceType(
    "security-group", ("sg",), arn_type="security-group", tag_type="security-group",
    malformed="InvalidGroupId.Malformed", not_found="InvalidGroup.NotFound",
    named_by=_each(("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
                    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
                    "DeleteSecurityGroup", "UpdateSecurityGroupRuleDescriptionsIngress",
                    "UpdateSecurityGroupRuleDescriptionsEgress"), "GroupId")))
# EC2 documents no Malformed code for key pair ids: a malformed one is looked up like
# any other and answered as unknown, with the id as sent.
KEY_PAIR = register(ResourceType(
    "key-pair", ("key",), arn_type="key-pair", tag_type="key-pair",
    not_found="InvalidKeyPair.NotFound", named_by=(("DeleteKeyPair", "KeyName"),)))
# Eucalyptus names machine, kernel and ramdisk images emi/eki/eri and takes the AWS
# prefixes ami/aki/ari for them (``cloudctl.services.ec2.images.images.normalize_id``).
IMAGE = register(ResourceType(
    "image", ("emi", "eki", "eri", "ami", "aki", "ari"), arn_type="image", arn_account=False,
    tag_type="image", malformed="InvalidAMIID.Malformed", not_found="InvalidAMIID.NotFound",
    named_by=(*_each(("DeregisterImage", "ModifyImageAttribute", "ResetImageAttribute"),
                     "ImageId"), ("CopyImage", "SourceImageId"))))
# --- VPC (cloudctl.services.ec2.vpc) ---
VPC = register(ResourceType(
    "vpc", ("vpc",), arn_type="vpc", tag_type="vpc", malformed="InvalidVpcID.Malformed",
    not_found="InvalidVpcID.NotFound",
    named_by=_each(("DeleteVpc", "ModifyVpcAttribute", "AttachInternetGateway",
                    "DetachInternetGateway"), "VpcId")))
SUBNET = register(ResourceType(
    "subnet", ("subnet",), arn_type="subnet", tag_type="subnet",
    malformed="InvalidSubnetID.Malformed", not_found="InvalidSubnetID.NotFound",
    named_by=_each(("DeleteSubnet", "ModifySubnetAttribute"), "SubnetId")))
NETWORK_INTERFACE = register(ResourceType(
    "network-interface", ("eni",), arn_type="network-interface", tag_type="network-interface",
    malformed="InvalidNetworkInterfaceID.Malformed",
    not_found="InvalidNetworkInterfaceID.NotFound",
    named_by=_each(("DeleteNetworkInterface", "AttachNetworkInterface",
                    "ModifyNetworkInterfaceAttribute", "AssignPrivateIpAddresses",
                    "UnassignPrivateIpAddresses"), "NetworkInterfaceId")))
ROUTE_TABLE = register(ResourceType(
    "route-table", ("rtb",), arn_type="route-table", tag_type="route-table",
    malformed="InvalidRouteTableID.Malformed", not_found="InvalidRouteTableID.NotFound",
    named_by=_each(("DeleteRouteTable", "CreateRoute", "DeleteRoute", "ReplaceRoute",
                    "AssociateRouteTable"), "RouteTableId")))
INTERNET_GATEWAY = register(ResourceType(
    "internet-gateway", ("igw",), arn_type="internet-gateway", tag_type="internet-gateway",
    malformed="InvalidInternetGatewayID.Malformed",
    not_found="InvalidInternetGatewayID.NotFound",
    named_by=_each(("DeleteInternetGateway", "AttachInternetGateway",
                    "DetachInternetGateway"), "InternetGatewayId")))
NETWORK_ACL = register(ResourceType(
    "network-acl", ("acl",), arn_type="network-acl", tag_type="network-acl",
    malformed="InvalidNetworkAclID.Malformed", not_found="InvalidNetworkAclID.NotFound",
    named_by=_each(("DeleteNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAclEntry",
                    "ReplaceNetworkAclEntry"), "NetworkAclId")))
DHCP_OPTIONS = register(ResourceType(
    "dhcp-options", ("dopt",), arn_type="dhcp-options", tag_type="dhcp-options",
    malformed="InvalidDhcpOptionsID.Malformed", not_found="InvalidDhcpOptionID.NotFound",
    named_by=(("DeleteDhcpOptions", "DhcpOptionsId"),)))
NAT_GATEWAY = register(ResourceType(
    "natgateway", ("nat",), arn_type="natgateway", tag_type="natgateway",
    malformed="InvalidNatGatewayID.Malformed", not_found="NatGatewayNotFound",
    named_by=(("DeleteNatGateway", "NatGatewayId"),)))
VPC_PEERING = register(ResourceType(
    "vpc-peering-connection", ("pcx",), arn_type="vpc-peering-connection",
    tag_type="vpc-peering-connection", malformed="InvalidVpcPeeringConnectionId.Malformed",
    not_found="InvalidVpcPeeringConnectionID.NotFound",
    named_by=_each(("AcceptVpcPeeringConnection", "RejectVpcPeeringConnection",
                    "DeleteVpcPeeringConnection"), "VpcPeeringConnectionId")))
