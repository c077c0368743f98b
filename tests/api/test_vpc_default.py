"""The default VPC of an account in VPC mode, DescribeAccountAttributes, and the
topology published into a real ZooKeeper."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import second_account
from tests.support import LiveCloud, wait_for


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _attributes(ec2: object) -> dict[str, list[str]]:
    out = ec2.describe_account_attributes()["AccountAttributes"]  # type: ignore[attr-defined]
    return {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
            for a in out}


def _init(data: Path, *args: str, warns: str = "") -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDCTL_")}
    env["CLOUDCTL_DATA_DIR"] = str(data)
    out = subprocess.run([sys.executable, "-m", "cloudctl", "--output", "json", "init", *args],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    assert (warns in out.stderr) if warns else "--network-mode" not in out.stderr, out.stderr
    return dict(json.loads(out.stdout))


def _stored_mode(data: Path) -> str:
    with sqlite3.connect(data / "cloud.db") as db:
        row = db.execute("SELECT value FROM cloud_properties WHERE name = ?",
                         ("cloud.network.network_configuration",)).fetchone()
    return str(json.loads(row[0])["Mode"])


def test_a_new_cloud_is_in_vpc_mode_and_edge_stays_selectable(tmp_path: Path) -> None:
    """``cloudctl init`` (and ``up``, which runs it) makes a new cloud VPC unless told
    ``--network-mode EDGE``; an initialised cloud keeps its mode whatever the flag."""
    vpc, edge = tmp_path / "vpc", tmp_path / "edge"
    assert _init(vpc)["network_mode"] == "VPC" and _stored_mode(vpc) == "VPC"
    assert _init(edge, "--network-mode", "edge")["network_mode"] == "EDGE"
    assert _stored_mode(edge) == "EDGE"
    again = _init(edge, "--network-mode", "VPC", warns="--network-mode VPC ignored: this "
                  "cloud exists and is in EDGE mode")
    assert again["created_key"] is False and again["network_mode"] == "EDGE"
    assert _stored_mode(edge) == "EDGE"


def test_edge_mode_has_no_default_vpc(cloud: LiveCloud) -> None:
    """The shared fixtures pin EDGE (``LiveCloud.network_mode``)."""
    attrs = _attributes(cloud.client("ec2"))
    assert attrs["supported-platforms"] == ["EC2", "VPC"]
    assert attrs["default-vpc"] == ["none"]


def test_default_vpc_as_aws_builds_it(vpc_cloud: LiveCloud) -> None:
    ec2 = vpc_cloud.client("ec2")
    attrs = _attributes(ec2)
    assert attrs["supported-platforms"] == ["VPC"]
    vpc_id = attrs["default-vpc"][0]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert [v["VpcId"] for v in vpc] == [vpc_id]
    assert vpc[0]["CidrBlock"] == "172.31.0.0/16"
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"] == {"Value": True}
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                             "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(zones)
    assert {s["CidrBlock"] for s in subnets} <= {f"172.31.{16 * i}.0/20" for i in range(16)}
    assert all(s["MapPublicIpOnLaunch"] and s["AvailableIpAddressCount"] == 4091
               for s in subnets)
    igws = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert len(igws) == 1
    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main",
                                                 "Values": ["true"]}])["RouteTables"][0]
    routes = {r["DestinationCidrBlock"]: r for r in main["Routes"]}
    assert routes["0.0.0.0/0"]["GatewayId"] == igws[0]["InternetGatewayId"]
    assert routes["172.31.0.0/16"]["GatewayId"] == "local"
    acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkAcls"]
    assert len(acl) == 1 and acl[0]["IsDefault"] is True
    assert len(acl[0]["Associations"]) == len(zones)
    # a default subnet per zone already exists; CreateDefaultVpc refuses a second VPC
    with pytest.raises(ClientError) as exc:
        ec2.create_default_subnet(AvailabilityZone=zones[0])
    assert _code(exc) == "DefaultSubnetAlreadyExistsInAvailabilityZone"
    with pytest.raises(ClientError) as exc:
        ec2.create_default_vpc()
    assert _code(exc) == "DefaultVpcAlreadyExists"


def test_deleted_default_vpc_comes_back_only_on_request(vpc_cloud: LiveCloud) -> None:
    access, secret, _ = second_account(vpc_cloud, "vpc-default-b")
    ec2 = vpc_cloud.session(access, secret).client("ec2", endpoint_url=vpc_cloud.endpoint)
    vpc_id = _attributes(ec2)["default-vpc"][0]
    assert vpc_id.startswith("vpc-")
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    igw = ec2.describe_internet_gateways()["InternetGateways"][0]["InternetGatewayId"]
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_vpc(VpcId=vpc_id)
    assert _attributes(ec2)["default-vpc"] == ["none"]
    assert ec2.describe_vpcs()["Vpcs"] == []
    with pytest.raises(ClientError) as exc:
        ec2.create_default_subnet(AvailabilityZone=ec2.describe_availability_zones()[
            "AvailabilityZones"][0]["ZoneName"])
    assert _code(exc) == "DefaultVpcDoesNotExist"
    again = ec2.create_default_vpc()["Vpc"]
    assert again["IsDefault"] is True and again["VpcId"] != vpc_id
    assert _attributes(ec2)["default-vpc"] == [again["VpcId"]]


def test_vpc_mode_runs_its_own_zookeeper(vpc_cloud: LiveCloud) -> None:
    """No ``cloud.network.zookeeper``: the cloud starts one under its data directory and
    publishes the topology there; ``network show`` reports it."""
    ec2 = vpc_cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]

    def shown() -> dict[str, object] | None:
        out = json.loads(vpc_cloud.cli("--output", "json", "network", "show").stdout)["vpc"]
        done = out["zookeeper"] and out["published_version"] == out["topology_version"] \
            and out["zookeeper_version"]
        return out if done else None

    out = wait_for(shown, 60, "the topology published to the local ZooKeeper")
    assert str(out["zookeeper"]).startswith("127.0.0.1:")
    assert vpc_id in [v["VpcId"] for v in out["vpcs"]]  # type: ignore[union-attr]
    assert (vpc_cloud.data_dir / "zookeeper" / "zoo.cfg").exists()
    text = vpc_cloud.cli("network", "show").stdout
    assert vpc_id in text and "VPC topology version" in text


def test_stopping_while_the_local_zookeeper_starts_leaves_none_running() -> None:
    """Switched to VPC mode and stopped at once (the server still starting in a thread):
    the cloud waits for the start and stops the server; no JVM outlives it."""
    import shutil

    from cloudctl.services.ec2.vpc import local_zookeeper
    from cloudctl.services.network.config import DEFAULT_CONFIG
    from tests.support import new_cloud

    live = new_cloud()
    live.start()
    try:
        value = json.dumps({**DEFAULT_CONFIG, "Mode": "VPC"})
        live.set_properties(f"cloud.network.network_configuration={value}")
        wait_for(lambda: (live.data_dir / "zookeeper" / "port").exists(), 30,
                 "the local ZooKeeper starting")
        live.stop()
        assert live.process is not None and live.process.returncode == 0
        assert local_zookeeper.running(live.data_dir) is None
    finally:
        live.stop()
        local_zookeeper.stop(live.data_dir)
        shutil.rmtree(live.data_dir, ignore_errors=True)


def test_topology_published_to_zookeeper(vpc_cloud: LiveCloud, zookeeper: object) -> None:
    from kazoo.client import KazooClient

    from netd.vpc import topology

    connect = zookeeper.connect  # type: ignore[attr-defined]
    vpc_cloud.set_properties(f"cloud.network.zookeeper={connect}")
    ec2 = vpc_cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.90.1.0/24")["Subnet"]["SubnetId"]
    acl_id = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    zk = KazooClient(hosts=connect, timeout=5.0)
    zk.start(timeout=15)
    try:
        reader = topology.TopologyReader(zk)

        def published() -> topology.Topology | None:
            snap = reader.load()
            return snap if subnet_id in snap.subnets and acl_id in snap.of(
                topology.NetworkAcl) else None

        snap = wait_for(published, 20, "the subnet in ZooKeeper")
        vpc = snap.vpcs[vpc_id]
        assert vpc.cidrs == ("10.90.0.0/16",) and vpc.vni >= 4096
        subnet = snap.subnets[subnet_id]
        table = snap.get(topology.RouteTable, subnet.route_table_id)
        assert table is not None and table.routes == (
            topology.Route("10.90.0.0/16", topology.TARGET_LOCAL, None),)
        default_acl = snap.get(topology.NetworkAcl, subnet.network_acl_id)
        assert default_acl is not None and [e.action for e in default_acl.ingress] == ["allow"]
        assert snap.of(topology.NetworkAcl)[acl_id].ingress == ()  # custom: deny all
        # gateways, interfaces, routes to them, peering: typed objects with references
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        table = subnet.route_table_id
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"][
            "NetworkInterfaceId"]
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni,
                                               SourceDestCheck={"Value": False})
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="192.168.0.0/16",
                         NetworkInterfaceId=eni)
        alloc = ec2.allocate_address(Domain="vpc")
        nat = ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=alloc["AllocationId"])[
            "NatGateway"]["NatGatewayId"]
        peer = ec2.create_vpc(CidrBlock="10.92.0.0/16")["Vpc"]["VpcId"]
        pcx = ec2.create_vpc_peering_connection(VpcId=vpc_id, PeerVpcId=peer)[
            "VpcPeeringConnection"]["VpcPeeringConnectionId"]
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)

        def complete() -> topology.Topology | None:
            got = reader.load()
            return got if pcx in got.of(topology.Peering) and nat in got.of(
                topology.NatGateway) and len(got.of(topology.RouteTable)[table].routes) == 3 \
                else None

        snap = wait_for(complete, 20, "gateways, interface, NAT and peering in ZooKeeper")
        routes = {r.destination: r for r in snap.of(topology.RouteTable)[table].routes}
        assert (routes["0.0.0.0/0"].target_kind, routes["0.0.0.0/0"].target_id) == (
            topology.TARGET_IGW, igw)
        assert (routes["192.168.0.0/16"].target_kind, routes["192.168.0.0/16"].target_id) == (
            topology.TARGET_ENI, eni)
        assert snap.of(topology.InternetGateway)[igw].vpc_id == vpc_id
        # the gateways are realised on the gateway host: the first node, else the property
        assert snap.of(topology.InternetGateway)[igw].host == "local"
        assert snap.of(topology.NatGateway)[nat].host == "local"
        vpc_cloud.set_properties("cloud.network.vpc_gateway_host=gw-2")
        ec2.create_tags(Resources=[igw], Tags=[{"Key": "k", "Value": "v"}])
        vpc_cloud.set_properties("cloud.network.topology_resync_seconds=1")
        wait_for(lambda: reader.load().of(topology.InternetGateway)[igw].host == "gw-2"
                 and reader.load().of(topology.NatGateway)[nat].host == "gw-2", 20,
                 "the gateways moved to the configured gateway host")
        vpc_cloud.set_properties("cloud.network.topology_resync_seconds=30")
        published_eni = snap.enis[eni]
        assert published_eni.source_dest_check is False and published_eni.subnet_id == subnet_id
        assert published_eni.private_ips == ("10.90.1.4",)
        assert snap.of(topology.NatGateway)[nat].public_ip == alloc["PublicIp"]
        assert snap.of(topology.Peering)[pcx].accepter_vpc_id == peer
        default_group = snap.of(topology.SecurityGroup)[published_eni.group_ids[0]]
        assert default_group.vpc_id == vpc_id
        assert default_group.ingress[0].groups == (default_group.id,)
        ec2.delete_nat_gateway(NatGatewayId=nat)
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock="192.168.0.0/16")
        ec2.delete_network_interface(NetworkInterfaceId=eni)
        wait_for(lambda: eni not in reader.load().enis and nat not in reader.load().of(
            topology.NatGateway), 20, "the interface and the NAT gateway removed")
        version = reader.version()
        ec2.delete_subnet(SubnetId=subnet_id)
        gone = wait_for(lambda: reader.load() if subnet_id not in reader.load().subnets
                        else None, 20, "the subnet removed from ZooKeeper")
        assert gone.version > version
        # the controller's full resync repairs a znode deleted behind its back
        zk.delete(topology.path_of("vpcs", vpc_id))
        vpc_cloud.set_properties("cloud.network.topology_resync_seconds=1")
        wait_for(lambda: vpc_id in reader.load().vpcs, 20, "the VPC republished")
        shown = json.loads(vpc_cloud.cli("--output", "json", "network", "show").stdout)
        assert vpc_id in [v["VpcId"] for v in shown["vpc"]["vpcs"]]
        assert shown["vpc"]["zookeeper_version"] >= gone.version
    finally:
        zk.stop()
        zk.close()
        vpc_cloud.set_properties("cloud.network.zookeeper=")
