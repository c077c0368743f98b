"""The EC2 resource registry feeds ARNs, tag kinds and id checks as the hand tables did."""

from __future__ import annotations

import pytest

from cloudctl.errors import AwsError
from cloudctl.services.ec2.shared import arns, resources, tags

# The tables the registry replaced, as they were: what it must still answer.
_TAG_TYPES = {
    "i": "instance", "ami": "image", "emi": "image", "eki": "image", "eri": "image",
    "aki": "image", "ari": "image", "vol": "volume", "snap": "snapshot", "sg": "security-group",
    "key": "key-pair", "eipalloc": "elastic-ip", "vpc": "vpc", "subnet": "subnet",
    "eni": "network-interface", "rtb": "route-table", "igw": "internet-gateway",
    "acl": "network-acl", "dopt": "dhcp-options", "nat": "natgateway", "lt": "launch-template",
    "pcx": "vpc-peering-connection",
}
_ARN_TYPES = dict(_TAG_TYPES)
_VPC_FIELDS = {
    **{op: (("VpcId", "vpc"),) for op in ("DeleteVpc", "ModifyVpcAttribute")},
    **{op: (("VpcId", "vpc"), ("InternetGatewayId", "internet-gateway"))
       for op in ("AttachInternetGateway", "DetachInternetGateway")},
    **{op: (("SubnetId", "subnet"),) for op in ("DeleteSubnet", "ModifySubnetAttribute")},
    **{op: (("NetworkInterfaceId", "network-interface"),) for op in (
        "DeleteNetworkInterface", "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute",
        "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses")},
    **{op: (("RouteTableId", "route-table"),) for op in (
        "DeleteRouteTable", "CreateRoute", "DeleteRoute", "ReplaceRoute",
        "AssociateRouteTable")},
    "DeleteInternetGateway": (("InternetGatewayId", "internet-gateway"),),
    **{op: (("NetworkAclId", "network-acl"),) for op in (
        "DeleteNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry")},
    "DeleteDhcpOptions": (("DhcpOptionsId", "dhcp-options"),),
    "DeleteNatGateway": (("NatGatewayId", "natgateway"),),
    **{op: (("VpcPeeringConnectionId", "vpc-peering-connection"),) for op in (
        "AcceptVpcPeeringConnection", "RejectVpcPeeringConnection",
        "DeleteVpcPeeringConnection")},
}
_INSTANCE_OPS = ("TerminateInstances", "StopInstances", "StartInstances", "RebootInstances",
                 "MonitorInstances", "UnmonitorInstances")
_SG_OPS = ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
           "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup",
           "UpdateSecurityGroupRuleDescriptionsIngress",
           "UpdateSecurityGroupRuleDescriptionsEgress")
_FIELDS = {
    **{op: (("InstanceIds", "instance"),) for op in _INSTANCE_OPS},
    **{op: (("LaunchTemplateId", "launch-template"),) for op in (
        "CreateLaunchTemplateVersion", "DeleteLaunchTemplate", "ModifyLaunchTemplate")},
    **{op: (("InstanceId", "instance"),) for op in (
        "ModifyInstanceAttribute", "ResetInstanceAttribute", "GetConsoleOutput",
        "GetConsoleScreenshot", "GetPasswordData", "CreateImage")},
    "AttachVolume": (("InstanceId", "instance"), ("VolumeId", "volume")),
    "DetachVolume": (("InstanceId", "instance"), ("VolumeId", "volume")),
    "DeleteVolume": (("VolumeId", "volume"),),
    "ModifyVolume": (("VolumeId", "volume"),),
    "CreateSnapshot": (("VolumeId", "volume"),),
    "DeleteSnapshot": (("SnapshotId", "snapshot"),),
    "ModifySnapshotAttribute": (("SnapshotId", "snapshot"),),
    "ResetSnapshotAttribute": (("SnapshotId", "snapshot"),),
    "CopySnapshot": (("SourceSnapshotId", "snapshot"),),
    **{op: (("GroupId", "security-group"),) for op in _SG_OPS},
    "DeleteKeyPair": (("KeyName", "key-pair"),),
    "DeregisterImage": (("ImageId", "image"),),
    "CopyImage": (("SourceImageId", "image"),),
    "ModifyImageAttribute": (("ImageId", "image"),),
    "ResetImageAttribute": (("ImageId", "image"),),
    "AssociateAddress": (("AllocationId", "elastic-ip"), ("InstanceId", "instance")),
    "ReleaseAddress": (("AllocationId", "elastic-ip"),),
    **_VPC_FIELDS,
}
_ID_CODES = {
    "i": ("InvalidInstanceID.Malformed", "InvalidInstanceID.NotFound"),
    "r": ("InvalidReservationID.Malformed", "InvalidReservationID.NotFound"),
    "vol": ("InvalidVolumeID.Malformed", "InvalidVolume.NotFound"),
    "snap": ("InvalidSnapshotID.Malformed", "InvalidSnapshot.NotFound"),
    "emi": ("InvalidAMIID.Malformed", "InvalidAMIID.NotFound"),
    "sg": ("InvalidGroupId.Malformed", "InvalidGroup.NotFound"),
    "eipalloc": ("InvalidAllocationID.Malformed", "InvalidAllocationID.NotFound"),
    "vpc": ("InvalidVpcID.Malformed", "InvalidVpcID.NotFound"),
    "subnet": ("InvalidSubnetID.Malformed", "InvalidSubnetID.NotFound"),
    "rtb": ("InvalidRouteTableID.Malformed", "InvalidRouteTableID.NotFound"),
    "nat": ("InvalidNatGatewayID.Malformed", "NatGatewayNotFound"),
}


@pytest.mark.parametrize("prefix", [*_TAG_TYPES, "r", "x", "sgr"])
def test_tag_and_arn_types(prefix: str) -> None:
    rid = f"{prefix}-0123abcd"
    assert arns.id_type(rid) == _ARN_TYPES.get(prefix)
    if prefix in _TAG_TYPES:
        assert tags.resource_type_of(rid) == _TAG_TYPES[prefix]
    else:
        with pytest.raises(AwsError) as err:
            tags.resource_type_of(rid)
        assert err.value.code == "InvalidID"


def test_operations_name_the_same_resources_in_the_same_order() -> None:
    assert arns._BY_OPERATION == _FIELDS


def test_arns_without_account() -> None:
    assert arns.arn("r1", "123456789012", "image", "emi-1") == "arn:aws:ec2:r1::image/emi-1"
    assert arns.arn("r1", "123456789012", "snapshot", "s") == "arn:aws:ec2:r1::snapshot/s"
    assert arns.arn("r1", "123456789012", "volume", "v") == \
        "arn:aws:ec2:r1:123456789012:volume/v"


@pytest.mark.parametrize(("prefix", "codes"), list(_ID_CODES.items()))
def test_id_codes(prefix: str, codes: tuple[str, str]) -> None:
    rtype = resources.by_prefix(prefix)
    assert rtype is not None
    assert (rtype.malformed, rtype.not_found) == codes
    assert rtype.check(f"{prefix}-0123abcd") == f"{prefix}-0123abcd"
    with pytest.raises(AwsError) as err:
        rtype.check(f"{prefix}-xyz")
    assert err.value.code == codes[0]


def test_key_pairs_have_no_malformed_code() -> None:
    with pytest.raises(TypeError):
        resources.KEY_PAIR.check("key-xyz")
    assert resources.KEY_PAIR.not_found == "InvalidKeyPair.NotFound"


def test_a_prefix_is_registered_once() -> None:
    with pytest.raises(ValueError):
        resources.register(resources.ResourceType("again", ("vol",)))
    assert resources.by_prefix("vol") is resources.VOLUME


def test_existence_checks_need_a_registered_prefix() -> None:
    async def none(*_: object) -> set[str]:
        return set()

    with pytest.raises(ValueError):
        tags.register_resource("nosuch", none)
