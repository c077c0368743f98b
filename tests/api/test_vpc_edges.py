"""Network ACLs, DHCP option sets, network interfaces and peering through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import second_account
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases

ALL = {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "CidrBlock": "0.0.0.0/0"}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_default_acl_allows_custom_acl_denies(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    default = ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["true"]}])[
        "NetworkAcls"][0]
    assert default["IsDefault"] is True
    assert sorted((e["RuleNumber"], e["RuleAction"], e["Egress"]) for e in default["Entries"]) \
        == [(100, "allow", False), (100, "allow", True), (32767, "deny", False),
            (32767, "deny", True)]
    assert [a["SubnetId"] for a in default["Associations"]] == [subnet_id]
    acl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]
    acl_id = acl["NetworkAclId"]
    assert acl["IsDefault"] is False and acl["Associations"] == []
    assert sorted(acl["Entries"], key=lambda e: e["Egress"]) == [
        {**ALL, "Egress": False}, {**ALL, "Egress": True}]
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="6",
                                 RuleAction="allow", Egress=False, CidrBlock="10.0.0.0/8",
                                 PortRange={"From": 22, "To": 22})
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="-1",
                                     RuleAction="deny", Egress=False, CidrBlock="0.0.0.0/0")
    assert _code(exc) == "NetworkAclEntryAlreadyExists"
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=32767, Protocol="-1",
                                     RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    assert _code(exc) == "InvalidParameterValue"
    ec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="6",
                                  RuleAction="deny", Egress=False, CidrBlock="10.0.0.0/8",
                                  PortRange={"From": 22, "To": 23})
    entry = [e for e in ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0][
        "Entries"] if e["RuleNumber"] == 100][0]
    assert entry["RuleAction"] == "deny" and entry["PortRange"] == {"From": 22, "To": 23}
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=101, Egress=False)
    assert _code(exc) == "InvalidNetworkAclEntry.NotFound"
    assoc = default["Associations"][0]["NetworkAclAssociationId"]
    new_assoc = ec2.replace_network_acl_association(AssociationId=assoc,
                                                    NetworkAclId=acl_id)["NewAssociationId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl(NetworkAclId=acl_id)
    assert _code(exc) == "DependencyViolation"
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl(NetworkAclId=default["NetworkAclId"])
    assert _code(exc) == "InvalidParameterValue"
    ec2.replace_network_acl_association(AssociationId=new_assoc,
                                        NetworkAclId=default["NetworkAclId"])
    ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Egress=False)
    ec2.delete_network_acl(NetworkAclId=acl_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_network_acls(NetworkAclIds=[acl_id])
    assert _code(exc) == "InvalidNetworkAclID.NotFound"


def test_dhcp_options(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    dopt = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["corp.example"]},
        {"Key": "domain-name-servers", "Values": ["10.61.0.2", "10.61.0.3"]}])["DhcpOptions"]
    dopt_id = dopt["DhcpOptionsId"]
    assert {c["Key"]: [v["Value"] for v in c["Values"]] for c in dopt["DhcpConfigurations"]} \
        == {"domain-name": ["corp.example"], "domain-name-servers": ["10.61.0.2", "10.61.0.3"]}
    with pytest.raises(ClientError) as exc:
        ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "bogus", "Values": ["x"]}])
    assert _code(exc) == "InvalidParameterValue"
    ec2.associate_dhcp_options(DhcpOptionsId=dopt_id, VpcId=vpc_id)
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["DhcpOptionsId"] == dopt_id
    with pytest.raises(ClientError) as exc:
        ec2.delete_dhcp_options(DhcpOptionsId=dopt_id)
    assert _code(exc) == "DependencyViolation"
    found = ec2.describe_dhcp_options(Filters=[{"Name": "value", "Values": ["corp.example"]}])
    assert dopt_id in [d["DhcpOptionsId"] for d in found["DhcpOptions"]]
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc_id)
    ec2.delete_dhcp_options(DhcpOptionsId=dopt_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_dhcp_options(DhcpOptionsIds=[dopt_id])
    assert _code(exc) == "InvalidDhcpOptionID.NotFound"


def test_network_interfaces(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.62.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="eni-group", Description="d",
                                      VpcId=vpc_id)["GroupId"]
    edge_group = ec2.create_security_group(GroupName="edge-eni", Description="d")["GroupId"]
    plain = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]
    default = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"][0]["GroupId"]
    assert [g["GroupId"] for g in plain["Groups"]] == [default]
    ec2.delete_network_interface(NetworkInterfaceId=plain["NetworkInterfaceId"])
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet_id, Groups=[edge_group])
    assert _code(exc) == "InvalidParameter"
    eni = ec2.create_network_interface(
        SubnetId=subnet_id, Description="first", SecondaryPrivateIpAddressCount=2,
        Groups=[group], TagSpecifications=[{"ResourceType": "network-interface",
                                            "Tags": [{"Key": "role", "Value": "db"}]}])[
        "NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    assert eni["Status"] == "available" and eni["SourceDestCheck"] is True
    assert eni["PrivateIpAddress"] == "10.62.1.4"
    assert [(a["PrivateIpAddress"], a["Primary"]) for a in eni["PrivateIpAddresses"]] == [
        ("10.62.1.4", True), ("10.62.1.5", False), ("10.62.1.6", False)]
    assert eni["Groups"] == [{"GroupId": group, "GroupName": "eni-group"}]
    assert eni["TagSet"] == [{"Key": "role", "Value": "db"}]
    assert eni["MacAddress"].count(":") == 5
    assigned = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni_id,
                                               PrivateIpAddresses=["10.62.1.100"])
    assert assigned["AssignedPrivateIpAddresses"] == [{"PrivateIpAddress": "10.62.1.100"}]
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni_id,
                                      PrivateIpAddresses=["10.62.1.5"])
    with pytest.raises(ClientError) as exc:  # the primary address stays
        ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni_id,
                                          PrivateIpAddresses=["10.62.1.4"])
    assert _code(exc) == "InvalidParameterValue"
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id,
                                           SourceDestCheck={"Value": False})
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id,
                                           Description={"Value": "nat box"})
    with pytest.raises(ClientError) as exc:
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id,
                                               Groups=["sg-0123456789abcdef0"])
    assert _code(exc) == "InvalidGroup.NotFound"
    got = ec2.describe_network_interfaces(Filters=[
        {"Name": "addresses.private-ip-address", "Values": ["10.62.1.100"]}])[
        "NetworkInterfaces"]
    assert [g["NetworkInterfaceId"] for g in got] == [eni_id]
    assert got[0]["SourceDestCheck"] is False and got[0]["Description"] == "nat box"
    assert sorted(a["PrivateIpAddress"] for a in got[0]["PrivateIpAddresses"]) == [
        "10.62.1.100", "10.62.1.4", "10.62.1.6"]
    ec2.get_waiter("network_interface_available").wait(NetworkInterfaceIds=[eni_id])
    with pytest.raises(ClientError) as exc:
        ec2.attach_network_interface(NetworkInterfaceId=eni_id,
                                     InstanceId="i-0123456789abcdef0", DeviceIndex=1)
    assert _code(exc) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.detach_network_interface(AttachmentId="eni-attach-0123456789abcdef0")
    assert _code(exc) == "InvalidAttachmentID.NotFound"
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    assert _code(exc) == "InvalidNetworkInterfaceID.NotFound"


def test_peering_across_accounts_and_isolation(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    access, secret, other = second_account(cloud, "vpc-peer-b")
    ec2_b = cloud.session(access, secret).client("ec2", endpoint_url=cloud.endpoint)
    vpc_a = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    vpc_b = ec2_b.create_vpc(CidrBlock="10.64.0.0/16")["Vpc"]["VpcId"]
    same_cidr_b = ec2_b.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    # B neither sees nor uses A's VPC
    with pytest.raises(ClientError) as exc:
        ec2_b.describe_vpcs(VpcIds=[vpc_a])
    assert _code(exc) == "InvalidVpcID.NotFound"
    assert vpc_a not in [v["VpcId"] for v in ec2_b.describe_vpcs()["Vpcs"]]
    for call, kwargs in ((ec2_b.create_subnet, {"VpcId": vpc_a, "CidrBlock": "10.63.9.0/24"}),
                         (ec2_b.delete_vpc, {"VpcId": vpc_a}),
                         (ec2_b.create_route_table, {"VpcId": vpc_a})):
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        assert _code(exc) == "InvalidVpcID.NotFound"
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc_a, PeerVpcId=vpc_b,
                                            PeerOwnerId=other)["VpcPeeringConnection"]
    pcx_id = pcx["VpcPeeringConnectionId"]
    assert pcx["Status"]["Code"] == "initiating-request"
    seen_b = ec2_b.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])[
        "VpcPeeringConnections"][0]
    assert seen_b["Status"]["Code"] == "pending-acceptance"
    assert seen_b["RequesterVpcInfo"]["OwnerId"] == cloud.account_id
    with pytest.raises(ClientError) as exc:  # only the accepter accepts
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert _code(exc) == "OperationNotPermitted"
    accepted = ec2_b.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert accepted["VpcPeeringConnection"]["Status"]["Code"] == "active"
    ec2.get_waiter("vpc_peering_connection_exists").wait(VpcPeeringConnectionIds=[pcx_id])
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_a]}])[
        "RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.64.0.0/16",
                     VpcPeeringConnectionId=pcx_id)
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r.get("VpcPeeringConnectionId") for r in routes}[
        "10.64.0.0/16"] == pcx_id
    # overlapping CIDRs fail; B cannot touch A's route table
    failed = ec2.create_vpc_peering_connection(VpcId=vpc_a, PeerVpcId=same_cidr_b,
                                               PeerOwnerId=other)["VpcPeeringConnection"]
    status = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[
        failed["VpcPeeringConnectionId"]])["VpcPeeringConnections"][0]["Status"]["Code"]
    assert status == "failed"
    with pytest.raises(ClientError) as exc:
        ec2_b.create_route(RouteTableId=table, DestinationCidrBlock="10.70.0.0/16",
                           VpcPeeringConnectionId=pcx_id)
    assert _code(exc) == "InvalidRouteTableID.NotFound"
    ec2_b.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r["State"] for r in routes}["10.64.0.0/16"] \
        == "blackhole"
    ec2.get_waiter("vpc_peering_connection_deleted").wait(VpcPeeringConnectionIds=[pcx_id])


def test_elastic_ip_on_an_interface(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.65.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.65.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet_id, SecondaryPrivateIpAddressCount=1)[
        "NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc")
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(AllocationId=alloc["AllocationId"], NetworkInterfaceId=eni_id,
                              PrivateIpAddress="10.65.1.200")
    assert _code(exc) == "InvalidParameterValue"
    assoc = ec2.associate_address(AllocationId=alloc["AllocationId"],
                                  NetworkInterfaceId=eni_id,
                                  PrivateIpAddress="10.65.1.5")["AssociationId"]
    shown = ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"][0]
    assert shown["Domain"] == "vpc" and shown["NetworkInterfaceId"] == eni_id
    assert shown["PrivateIpAddress"] == "10.65.1.5" and shown["AssociationId"] == assoc
    ips = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0][
        "PrivateIpAddresses"]
    secondary = [a for a in ips if a["PrivateIpAddress"] == "10.65.1.5"][0]
    assert secondary["Association"]["PublicIp"] == alloc["PublicIp"]
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(AllocationId=alloc["AllocationId"], NetworkInterfaceId=eni_id)
    assert _code(exc) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as exc:
        ec2.release_address(AllocationId=alloc["AllocationId"])
    assert _code(exc) == "InvalidIPAddress.InUse"
    moved = ec2.associate_address(AllocationId=alloc["AllocationId"],
                                  NetworkInterfaceId=eni_id, AllowReassociation=True)
    primary = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])[
        "NetworkInterfaces"][0]
    assert primary["Association"]["PublicIp"] == alloc["PublicIp"]
    ec2.disassociate_address(AssociationId=moved["AssociationId"])
    assert "NetworkInterfaceId" not in ec2.describe_addresses(
        AllocationIds=[alloc["AllocationId"]])["Addresses"][0]
    ec2.release_address(AllocationId=alloc["AllocationId"])
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
