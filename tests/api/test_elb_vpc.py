"""ELB (classic) in a VPC through boto3 against a live cloud: subnets (one VPC, one a
zone) and security groups checked as AWS checks them, one requester-managed interface
``ELB <name>`` a subnet in DescribeNetworkInterfaces (attach/detach, apply groups,
delete), and what the VPC data plane and the load balancer's haproxy are given of
them (the published topology places the interface on the gateway host with the
load balancer's groups; the haproxy uplink is that interface's bridge, MAC and address).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from netd.vpc.names import guest_bridge_name, lb_port_name
from netd.vpc.topology import InternetGateway, SecurityGroup
from tests.support import LiveCloud

HTTP = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _enis(ec2: Any, name: str) -> list[dict[str, Any]]:
    found = ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": [f"ELB {name}"]}])["NetworkInterfaces"]
    return sorted(found, key=lambda e: e["SubnetId"])


async def _dataplane_view(cloud: LiveCloud, name: str) -> tuple[Any, Any]:
    """(the published topology, the haproxy uplink of load balancer ``name``), computed
    from the live cloud's database as its VPC publisher and ELB controller do."""
    from sqlalchemy import select

    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.ec2.vpc.topology_view import snapshot
    from cloudctl.services.elb.dataplane import vpc_nodes
    from cloudctl.services.elb.models import ElbLoadBalancer

    url = cloud.database_url or f"sqlite+aiosqlite:///{cloud.data_dir / 'cloud.db'}"
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            _, topo = await snapshot(session, "gw-host")
            lb = (await session.execute(select(ElbLoadBalancer).where(
                ElbLoadBalancer.name == name))).scalar_one()
            nodes = await vpc_nodes(session, {"uplink_netns": "up-ns"}, lb)
        return topo, nodes[0].uplink if nodes else None
    finally:
        await engine.dispose()


def test_load_balancer_in_subnets_with_groups_and_interfaces(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    ec2, elb = cloud.client("ec2"), cloud.client("elb")
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    s1 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24",
                           AvailabilityZone=zones[0])["Subnet"]["SubnetId"]
    s1b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.2.0/24",
                            AvailabilityZone=zones[0])["Subnet"]["SubnetId"]
    s_other = ec2.create_subnet(VpcId=other, CidrBlock="10.78.1.0/24",
                                AvailabilityZone=zones[0])["Subnet"]["SubnetId"]
    web = ec2.create_security_group(GroupName="lb-web", Description="lb", VpcId=vpc)["GroupId"]
    alt = ec2.create_security_group(GroupName="lb-alt", Description="lb", VpcId=vpc)["GroupId"]
    foreign = ec2.create_security_group(GroupName="lb-x", Description="x",
                                        VpcId=other)["GroupId"]
    name = f"v-{uuid.uuid4().hex[:8]}"

    # AWS's refusals: a subnet that does not exist, two subnets in one zone, a group
    # of another VPC
    for subnets, groups, code in (
            (["subnet-0123456789abcdef0"], [web], "SubnetNotFound"),
            ([s1, s1b], [web], "InvalidConfigurationRequest"),
            ([s1, s_other], [web], "InvalidConfigurationRequest"),
            ([s1], [foreign], "InvalidSecurityGroup"),
            ([s1], ["sg-0123456789abcdef0"], "InvalidSecurityGroup")):
        with pytest.raises(ClientError) as exc:
            elb.create_load_balancer(LoadBalancerName=name, Listeners=[HTTP],
                                     Subnets=subnets, SecurityGroups=groups)
        assert _code(exc) == code, (subnets, groups)
    assert _enis(ec2, name) == []

    elb.create_load_balancer(LoadBalancerName=name, Listeners=[HTTP], Subnets=[s1],
                             SecurityGroups=[web], Scheme="internal")
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    assert desc["VPCId"] == vpc and desc["Subnets"] == [s1]
    assert desc["AvailabilityZones"] == [zones[0]] and desc["SecurityGroups"] == [web]
    assert desc["Scheme"] == "internal"
    # in a VPC the source group is the load balancer's (first) group, as on AWS
    assert desc["SourceSecurityGroup"] == {"OwnerAlias": cloud.account_id,
                                           "GroupName": "lb-web"}
    [eni] = _enis(ec2, name)
    assert eni["SubnetId"] == s1 and eni["VpcId"] == vpc and eni["RequesterManaged"] is True
    assert eni["RequesterId"] == "amazon-elb" and eni["Status"] == "in-use"
    assert [g["GroupId"] for g in eni["Groups"]] == [web]
    assert eni["PrivateIpAddress"].startswith("10.77.1.")
    with pytest.raises(ClientError) as exc:  # the service's, not the user's, to delete
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert _code(exc) == "InvalidNetworkInterface.InUse"

    # what the data plane is given: the interface on the gateway host, in its group,
    # and haproxy plugged into that interface's bridge with its MAC and address
    topo, side = asyncio.run(_dataplane_view(cloud, name))
    published = topo.enis[eni["NetworkInterfaceId"]]
    assert published.host == "gw-host" and published.group_ids == (web,)
    assert published.private_ips == (eni["PrivateIpAddress"],)
    assert web in topo.of(SecurityGroup)  # its rules go to the hosts with it
    assert side == {"address": f"{eni['PrivateIpAddress']}/24", "uplink_netns": "up-ns",
                    "uplink_bridge": guest_bridge_name(eni["NetworkInterfaceId"]),
                    "gateway": "10.77.1.1", "mac": eni["MacAddress"],
                    "uplink_port": lb_port_name(desc["DNSName"].split(".")[0].rsplit("-", 1)[1])}

    # attach a subnet of another zone (or refuse a second one in the same zone)
    if len(zones) > 1:
        s2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.3.0/24",
                               AvailabilityZone=zones[1])["Subnet"]["SubnetId"]
        assert elb.attach_load_balancer_to_subnets(
            LoadBalancerName=name, Subnets=[s2])["Subnets"] == [s1, s2]
        assert {e["SubnetId"] for e in _enis(ec2, name)} == {s1, s2}
        assert elb.detach_load_balancer_from_subnets(
            LoadBalancerName=name, Subnets=[s1])["Subnets"] == [s2]
        assert [e["SubnetId"] for e in _enis(ec2, name)] == [s2]
        kept = s2
    else:  # the cloud has one zone: a second subnet there is refused
        with pytest.raises(ClientError) as exc:
            elb.attach_load_balancer_to_subnets(LoadBalancerName=name, Subnets=[s1b])
        assert _code(exc) == "InvalidConfigurationRequest"
        assert [e["SubnetId"] for e in _enis(ec2, name)] == [s1]
        kept = s1
    with pytest.raises(ClientError) as exc:
        elb.attach_load_balancer_to_subnets(LoadBalancerName=name, Subnets=[s_other])
    assert _code(exc) == "InvalidConfigurationRequest"
    with pytest.raises(ClientError) as exc:
        elb.detach_load_balancer_from_subnets(LoadBalancerName=name, Subnets=[kept])
    assert _code(exc) == "InvalidConfigurationRequest"

    # groups: applied to the interfaces; another VPC's refused
    assert elb.apply_security_groups_to_load_balancer(
        LoadBalancerName=name, SecurityGroups=[alt])["SecurityGroups"] == [alt]
    assert [[g["GroupId"] for g in e["Groups"]] for e in _enis(ec2, name)] == [[alt]]
    with pytest.raises(ClientError) as exc:
        elb.apply_security_groups_to_load_balancer(LoadBalancerName=name,
                                                   SecurityGroups=[foreign])
    assert _code(exc) == "InvalidSecurityGroup"
    with pytest.raises(ClientError) as exc:  # the subnet holds the load balancer's interface
        ec2.delete_subnet(SubnetId=kept)
    assert _code(exc) == "DependencyViolation"
    with pytest.raises(ClientError) as exc:  # ... and its interface is in the group
        ec2.delete_security_group(GroupId=alt)
    assert _code(exc) == "DependencyViolation"
    ec2.delete_security_group(GroupId=web)  # no longer the load balancer's

    assert "Association" not in _enis(ec2, name)[0]  # internal: no public address

    # internet-facing, no group named: the VPC's default group, and a public address of
    # the service's (not in the account's DescribeAddresses) that the VPC's internet
    # gateway maps to the interface
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    plain = f"d-{uuid.uuid4().hex[:8]}"
    elb.create_load_balancer(LoadBalancerName=plain, Listeners=[HTTP], Subnets=[s1b])
    default = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    assert elb.describe_load_balancers(LoadBalancerNames=[plain])[
        "LoadBalancerDescriptions"][0]["SecurityGroups"] == [default]
    [pub] = _enis(ec2, plain)
    assert [g["GroupId"] for g in pub["Groups"]] == [default]
    public_ip = pub["Association"]["PublicIp"]
    assert pub["Association"]["IpOwnerId"] == "amazon-elb"
    assert public_ip not in [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]]
    topo, _ = asyncio.run(_dataplane_view(cloud, plain))
    mappings = topo.of(InternetGateway)[igw].mappings
    assert (public_ip, pub["PrivateIpAddress"], pub["NetworkInterfaceId"]) in [
        (m.public_ip, m.private_ip, m.eni_id) for m in mappings]

    # deleting the load balancer removes its interfaces; the subnet can go then
    elb.delete_load_balancer(LoadBalancerName=name)
    elb.delete_load_balancer(LoadBalancerName=plain)
    assert _enis(ec2, name) == [] and _enis(ec2, plain) == []
    ec2.delete_subnet(SubnetId=kept)
    # its public address went back to the pool
    with sqlite3.connect(cloud.data_dir / "cloud.db", timeout=10) as db:
        assert db.execute("SELECT count(*) FROM ec2_addresses WHERE public_ip = ?",
                          (public_ip,)).fetchone() == (0,)


def test_zones_in_vpc_mode_mean_the_default_subnets(vpc_cloud: LiveCloud) -> None:
    """In VPC mode (accounts with a default VPC) a load balancer given zones lands in
    the default subnets of those zones, as on AWS; internal is allowed there."""
    cloud = vpc_cloud
    ec2, elb = cloud.client("ec2"), cloud.client("elb")
    # a data plane for VPC load balancers only: where the VPC host agent plugs interfaces
    try:
        cloud.set_properties('loadbalancing.dataplane={"vpc_netns": "vpc-host"}')
        bad = cloud.cli("property", "set",
                        'loadbalancing.dataplane={"vpc_netns": "x", "uplink_netns": "y"}',
                        check=False)
        assert bad.returncode != 0 and "uplink_bridge" in bad.stdout + bad.stderr
    finally:
        cloud.set_properties("loadbalancing.dataplane={}")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    name = f"z-{uuid.uuid4().hex[:8]}"
    elb.create_load_balancer(LoadBalancerName=name, Listeners=[HTTP],
                             AvailabilityZones=[zone], Scheme="internal")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [default_vpc]},
        {"Name": "availability-zone", "Values": [zone]}])["Subnets"][0]["SubnetId"]
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    assert desc["VPCId"] == default_vpc and desc["Subnets"] == [subnet]
    assert desc["AvailabilityZones"] == [zone]
    assert [e["SubnetId"] for e in _enis(ec2, name)] == [subnet]
    # enabling its zone again changes nothing; disabling its only zone is refused
    assert elb.enable_availability_zones_for_load_balancer(
        LoadBalancerName=name, AvailabilityZones=[zone])["AvailabilityZones"] == [zone]
    with pytest.raises(ClientError) as exc:
        elb.disable_availability_zones_for_load_balancer(LoadBalancerName=name,
                                                         AvailabilityZones=[zone])
    assert _code(exc) == "InvalidConfigurationRequest"
    elb.delete_load_balancer(LoadBalancerName=name)
    assert _enis(ec2, name) == []
