"""Real guests of one VPC on two hypervisor hosts in two zones (``two_host_cloud``: the
all-in-one node and a second host added as an operator would, VXLAN between their
namespaces).

One slow test, one boot of two tiny TCG guests: A in the default subnet of the first
zone (on the first host), B in the default subnet of the second zone (on the second
host), both with public addresses. B's user data pings A's private address every
second and prints the result on its console. Shown: each guest gets its address by DHCP
and its own metadata (the second host's metadata path too); B reaches A across hosts
and subnets while the group allows it, not after the revoke, again after the authorize;
a NACL deny entry stops it though the group allows, its deletion lets it through; the
outside (the first host's outside network) reaches B's ssh, on the second host, only at
its public address, through the internet gateway on the first host, and not once the
main route table's route to the internet gateway is deleted. Nothing of either host
is left afterwards (the fixture checks after the last test sharing the two hosts:
namespaces, the underlay link, agents, guests).
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import Any

import pytest

from netd.netns import run_in
from netd.zookeeper import available as zookeeper_available
from tests.integration.test_vpc_guests import PROBE, _console, _probes
from tests.support import LiveCloud, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0
                       or shutil.which("dnsmasq") is None or not zookeeper_available(),
                       reason="needs root, libvirtd, dnsmasq and ZooKeeper"),
]


def _ssh_banner(netns: str, ip: str) -> bool:
    """A TCP connection from ``netns`` to the guest's ssh port answers with its banner."""
    def connect() -> bool:
        try:
            with socket.create_connection((ip, 22), timeout=2) as conn:
                conn.settimeout(3)
                return conn.recv(16).startswith(b"SSH-")
        except OSError:
            return False

    return run_in(netns, connect)


def test_guests_on_two_hosts_reach_each_other_as_groups_and_nacls_allow(
        two_host_cloud: tuple[LiveCloud, Any], tiny_image: Any,
        private_libvirtd: Any) -> None:
    cloud, second = two_host_cloud
    ec2 = cloud.client("ec2")
    eki = ec2.register_image(Name="two-k", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="two-r", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="two-g", ImageLocation=str(tiny_image.rootfs), KernelId=eki,
                             RamdiskId=eri)["ImageId"]
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["VpcId"]
    subnets = {s["AvailabilityZone"]: s for s in ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    zone_a, zone_b = sorted(subnets)
    group = ec2.create_security_group(GroupName="pingers", Description="icmp",
                                      VpcId=vpc_id)["GroupId"]
    inside = [{"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
               "IpRanges": [{"CidrIp": "172.31.0.0/16"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        *inside, {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                  "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}])
    a = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                          SubnetId=subnets[zone_a]["SubnetId"],
                          SecurityGroupIds=[group])["Instances"][0]
    b = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                          SubnetId=subnets[zone_b]["SubnetId"], SecurityGroupIds=[group],
                          UserData=PROBE.format(peer=a["PrivateIpAddress"]))["Instances"][0]
    iid_a, iid_b = a["InstanceId"], b["InstanceId"]
    assert (a["Placement"]["AvailabilityZone"], b["Placement"]["AvailabilityZone"]) == (
        zone_a, zone_b)
    # one guest on each host: B's domain runs on the second host's libvirtd only
    wait_for(lambda: second.guests() == [iid_b], 120, "B running on the second host")
    for iid, ip in ((iid_a, a["PrivateIpAddress"]), (iid_b, b["PrivateIpAddress"])):
        wait_for(lambda iid=iid: f"cloud-init: instance-id {iid}" in _console(ec2, iid), 300,
                 f"{iid}'s metadata (console: {_console(ec2, iid)[-1500:]})")
        assert f"cloud-init: eth0 {ip}/" in _console(ec2, iid)
    # B (second host, zone b) reaches A (first host, zone a) over the VPC's VXLAN
    wait_for(lambda: _probes(_console(ec2, iid_b))[-1:] == ["ok"], 120, "B pinging A")
    # the outside reaches B on the second host at its public address (the IGW on the
    # first host), never at its private one
    public_b = ec2.describe_instances(InstanceIds=[iid_b])["Reservations"][0][
        "Instances"][0]["PublicIpAddress"]
    wait_for(lambda: _ssh_banner(private_libvirtd.netns, public_b), 60,
             "B's ssh at its public address from the outside")
    assert not _ssh_banner(private_libvirtd.netns, b["PrivateIpAddress"])
    # the group revoked: A's host stops admitting B's pings; authorized: again
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=inside)
    wait_for(lambda: _probes(_console(ec2, iid_b))[-3:] == ["fail"] * 3, 60,
             "B's pings refused after the revoke")
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=inside)
    wait_for(lambda: _probes(_console(ec2, iid_b))[-1:] == ["ok"], 60, "allowed again")
    # a NACL deny entry (A's subnet's ACL, inbound from B) stops it though the group allows
    acl = ec2.describe_network_acls(Filters=[
        {"Name": "association.subnet-id", "Values": [subnets[zone_a]["SubnetId"]]}])[
        "NetworkAcls"][0]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Protocol="1",
                                 RuleAction="deny", Egress=False,
                                 CidrBlock=f"{b['PrivateIpAddress']}/32",
                                 IcmpTypeCode={"Type": -1, "Code": -1})
    wait_for(lambda: _probes(_console(ec2, iid_b))[-3:] == ["fail"] * 3, 60,
             "B's pings denied by the NACL")
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Egress=False)
    wait_for(lambda: _probes(_console(ec2, iid_b))[-1:] == ["ok"], 60, "the NACL entry gone")
    # no route to the internet gateway: the outside no longer reaches B
    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    (igw,) = [r["GatewayId"] for r in main["Routes"]
              if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    wait_for(lambda: not _ssh_banner(private_libvirtd.netns, public_b), 60,
             "B unreachable from the outside without the route to the IGW")
    # the default VPC as it was, for the next test on the shared two-host cloud
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                     GatewayId=igw)
    ec2.terminate_instances(InstanceIds=[iid_a, iid_b])
    wait_for(lambda: {i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=[iid_a, iid_b])["Reservations"] for i in r["Instances"]} == {"terminated"},
        120, "terminated")
    wait_for(lambda: not second.guests(), 30, "no guest left on the second host")
