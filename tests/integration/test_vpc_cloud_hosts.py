"""A VPC cloud on two hypervisor hosts and a gateway host, driven through the API.

The live cloud (VPC mode, publishing into the test ZooKeeper) schedules instances on two
``nodectl agent --driver fake`` nodes, ``h1`` and ``h2``; each node's network is a
namespace of the lab world (``vpc_world.World``: hosts on one underlay) with its own VPC
host agent, and the gateway host ``gw`` carries the outside bridge (``br-out``, linked to
the ``world`` namespace, the Internet) where the internet gateway maps public addresses.
Instances stand in as namespaces on their ENI's tap (what a guest's NIC would be).

Shown: instances of one VPC on the two hosts reach each other across subnets over the
VPC's overlay (VXLAN between the host namespaces) while their group allows it; the
outside reaches an instance with a public address only through the IGW on ``gw`` and
sees its outbound traffic come from that address; removing the default route to the
IGW cuts it. Crash safety: the controller killed -9 during a burst of VPC changes
(subnets, interfaces, routes, launches and terminations); restarted, it republishes
from the database, every acknowledged change is on the hosts and nothing of the deleted
objects is left (namespaces, taps, dnsmasq).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cloudctl.pki import CertPaths
from netd.lab import Listener, tcp_probe
from netd.vpc import topology as t
from tests.api.test_compute_force_detach import FakeAgent
from tests.api.test_compute_instances import register_image_set
from tests.integration.test_vpc_crash import _leftovers
from tests.integration.vpc_world import WORLD_IP, World
from tests.support import LiveCloud, new_cloud, wait_for

pytestmark = [pytest.mark.integration]

NODES = ("h1", "h2")


@dataclass
class HostsCloud:
    cloud: LiveCloud
    world: World
    agents: list[FakeAgent]
    images: dict[str, str]
    zone: str

    def topology(self) -> t.Topology:
        return self.world.reader.load()

    def eni_of(self, instance_id: str) -> t.Eni:
        def found() -> t.Eni | None:
            for e in self.topology().enis.values():
                if e.instance_id == instance_id and e.host:
                    return e
            return None

        eni: t.Eni = wait_for(found, 30, f"{instance_id}'s interface in ZooKeeper")
        return eni

    def converged(self, timeout: float = 30.0) -> int:
        """Wait until ZooKeeper holds the database's topology and every host applied it."""
        def published() -> int | None:
            shown = json.loads(self.cloud.cli("--output", "json", "network", "show").stdout)[
                "vpc"]
            db, zk = shown.get("topology_version"), shown.get("zookeeper_version")
            if db is None or zk is None or shown.get("published_version") != db:
                return None
            return int(zk)

        version: int = wait_for(published, timeout, "the topology published")
        self.world.applied(version, ("h1", "h2", "gw"), timeout)
        return version


@pytest.fixture(scope="module")
def hosts_cloud(zookeeper: Any, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[HostsCloud]:
    """One cloud for the module (the crash test, which restarts it, runs last)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUDCTL_LOCAL_NODE", "none")
        mp.setenv("CLOUDCTL_DEMO_IMAGE", "0")
        yield from _hosts_cloud(zookeeper, tmp_path_factory.mktemp("vpc-hosts"))


def _hosts_cloud(zookeeper: Any, tmp: Path) -> Iterator[HostsCloud]:
    world = World(zookeeper, tmp / "world", dhcp=True)
    cloud = new_cloud()
    root = Path(tempfile.mkdtemp(prefix="vpc-hosts-"))
    agents: list[FakeAgent] = []
    try:
        for h in ("h1", "h2", "gw"):
            world.start_agent(h, resync=1.0)
        cloud.start()  # EDGE first: nothing published before the ZooKeeper is named
        cloud.cli("property", "set", f"cloud.network.zookeeper={zookeeper.connect}",
                  "cloud.network.vpc_gateway_host=gw", "cloud.vmstate.reconcile_interval_sec=1")
        from cloudctl.services.network.config import DEFAULT_CONFIG

        mode = json.dumps({**DEFAULT_CONFIG, "Mode": "VPC"})
        cloud.cli("property", "set", f"cloud.network.network_configuration={mode}")
        ca = CertPaths(cloud.data_dir / "ca" / "ca.pem", cloud.data_dir / "ca" / "ca.key")
        zone = cloud.client("ec2").describe_availability_zones()[
            "AvailabilityZones"][0]["ZoneName"]
        for name in NODES:
            agent = FakeAgent(root / name, ca, name)
            agent.start()
            agents.append(agent)
            cloud.cli("node", "register", name, "--zone", zone, "--address", agent.address,
                      "--cores", "64", "--memory-mib", "65536")

        def nodes_up() -> bool:
            nodes = json.loads(cloud.cli("--output", "json", "node", "list").stdout)
            return {n["name"] for n in nodes if n["last_heartbeat"]} >= set(NODES)

        wait_for(nodes_up, 60, "both nodes heartbeating")
        images = register_image_set(cloud, root / "imgs")
        yield HostsCloud(cloud, world, agents, images, zone)
    finally:
        cloud.stop()
        for agent in agents:
            agent.kill()
        world.close()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def _reach(src: str, dst_ns: str, ip: str, timeout: float = 2.5) -> str | None:
    with Listener(dst_ns, 8080):
        return tcp_probe(src, ip, 8080, timeout=timeout)


def test_instances_on_two_hosts_meet_over_the_overlay_and_outside_only_through_the_igw(
        hosts_cloud: HostsCloud) -> None:
    hc, ec2 = hosts_cloud, hosts_cloud.cloud.client("ec2")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["VpcId"]
    default_subnet = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "availability-zone", "Values": [hc.zone]}])["Subnets"][0]
    other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="172.31.200.0/24",
                              AvailabilityZone=hc.zone)["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="tcp 8080",
                                      VpcId=vpc_id)["GroupId"]
    web = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=web)
    # A in the default subnet (public address), B in the other one (none)
    a = ec2.run_instances(ImageId=hc.images["emi"], MinCount=1, MaxCount=1,
                          SecurityGroupIds=[group])["Instances"][0]
    b = ec2.run_instances(ImageId=hc.images["emi"], MinCount=1, MaxCount=1, SubnetId=other,
                          SecurityGroupIds=[group])["Instances"][0]
    assert a["SubnetId"] == default_subnet["SubnetId"] and not b.get("PublicIpAddress")
    public = wait_for(lambda: ec2.describe_instances(InstanceIds=[a["InstanceId"]])[
        "Reservations"][0]["Instances"][0].get("PublicIpAddress"), 30, "A's public address")
    ea, eb = hc.eni_of(a["InstanceId"]), hc.eni_of(b["InstanceId"])
    assert {ea.host, eb.host} == set(NODES), (ea.host, eb.host)  # one on each host
    hc.converged()
    ia = hc.world.plug(ea, default_subnet["CidrBlock"])
    ib = hc.world.plug(eb, "172.31.200.0/24")
    # across hosts and subnets, over the VPC's VXLAN between h1 and h2
    assert _reach(ib, ia, a["PrivateIpAddress"]) == b["PrivateIpAddress"]
    assert _reach(ia, ib, b["PrivateIpAddress"]) == a["PrivateIpAddress"]
    # the outside reaches A only at its public address, through the IGW on gw
    world = hc.world.world
    assert _reach(world, ia, public) == WORLD_IP
    with Listener(world, 9000):
        assert tcp_probe(ia, WORLD_IP, 9000, timeout=2.5) == public, "outbound as its public IP"
        assert tcp_probe(ib, WORLD_IP, 9000, timeout=0.5) is None, "B has no public address"
    # the group revoked: the hosts stop admitting (A from B and from outside)
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=web)
    hc.converged()
    assert _reach(ib, ia, a["PrivateIpAddress"], timeout=0.5) is None
    assert _reach(world, ia, public, timeout=0.5) is None
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=web)
    hc.converged()
    assert _reach(ib, ia, a["PrivateIpAddress"]) == b["PrivateIpAddress"]
    # no route to the internet gateway: the outside no longer gets in, A no longer out
    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    hc.converged()
    assert _reach(world, ia, public, timeout=0.5) is None
    with Listener(world, 9000):
        assert tcp_probe(ia, WORLD_IP, 9000, timeout=0.5) is None
    assert _reach(ib, ia, a["PrivateIpAddress"]) == b["PrivateIpAddress"]  # inside: still


# -- kill -9 of the controller during a burst -------------------------------------------

@dataclass
class Acked:
    """What the cloud acknowledged during the burst (the API answered)."""

    subnets: dict[str, str]            # subnet id -> CIDR, existing
    deleted_subnets: set[str]
    enis: set[str]                     # unattached interfaces, existing
    deleted_enis: set[str]
    routes: dict[str, str]             # destination -> route table id
    running: set[str]                  # instances launched, not terminated
    terminated: set[str]
    count: int = 0                     # changes acknowledged

    def enough(self, n: int) -> bool:
        return self.count >= n and bool(self.deleted_enis) and bool(self.terminated)


def _burst(cloud: LiveCloud, vpc_id: str, table: str, igw: str, emi: str,
           stop: threading.Event, acked: Acked, errors: list[str]) -> None:
    # no retry: a call the kill cut, or one refused while the cloud is down, is seen as
    # such (a retry could land on the restarted cloud's backlog and hide the outage)
    ec2 = cloud.client("ec2", config=Config(retries={"total_max_attempts": 1}))
    rng = random.Random(12)
    n = 0
    while not stop.is_set():
        n += 1
        doubt: str | None = None  # a removal whose answer may be lost
        try:
            op = rng.randrange(7)
            if op == 0 or not acked.subnets:
                cidr = f"10.77.{n % 256}.0/24"  # a CIDR taken again: refused
                sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)["Subnet"]["SubnetId"]
                acked.subnets[sid] = cidr
            elif op == 1:
                sid = rng.choice(sorted(acked.subnets))
                eid = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"][
                    "NetworkInterfaceId"]
                acked.enis.add(eid)
            elif op == 2 and acked.enis:
                eid = rng.choice(sorted(acked.enis))
                doubt = eid
                ec2.delete_network_interface(NetworkInterfaceId=eid)
                acked.enis.discard(eid)
                acked.deleted_enis.add(eid)
            elif op == 3:
                dest = f"192.0.{n % 256}.0/24"
                ec2.create_route(RouteTableId=table, DestinationCidrBlock=dest, GatewayId=igw)
                acked.routes[dest] = table
            elif op == 4:
                sid = rng.choice(sorted(acked.subnets))
                iid = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, SubnetId=sid)[
                    "Instances"][0]["InstanceId"]
                acked.running.add(iid)
            elif op == 5 and len(acked.subnets) > 2:
                sid = rng.choice(sorted(acked.subnets))
                doubt = sid
                ec2.delete_subnet(SubnetId=sid)  # refused while it has interfaces
                del acked.subnets[sid]
                acked.deleted_subnets.add(sid)
            elif acked.running:
                iid = rng.choice(sorted(acked.running))
                doubt = iid
                ec2.terminate_instances(InstanceIds=[iid])
                acked.running.discard(iid)
                acked.terminated.add(iid)
            else:
                continue
            acked.count += 1
        except ClientError as exc:  # refused (a subnet in use): not acknowledged
            if doubt is not None and exc.response["Error"]["Code"].endswith("NotFound"):
                # a retry after the restart: the first attempt's removal was committed
                acked.enis.discard(doubt)
                acked.subnets.pop(doubt, None)
        except (BotoCoreError, OSError) as exc:  # the cloud is down (killed)
            errors.append(f"{type(exc).__name__}: {exc}")
            # killed after committing a removal, before answering: it may or may not be
            # gone, so it is in neither acknowledged set
            if doubt is not None:
                acked.enis.discard(doubt)
                acked.subnets.pop(doubt, None)
                acked.running.discard(doubt)
            time.sleep(0.2)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_controller_killed_during_a_burst_converges_and_leaves_nothing(
        hosts_cloud: HostsCloud) -> None:
    hc, cloud = hosts_cloud, hosts_cloud.cloud
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    acked = Acked({}, set(), set(), set(), {}, set(), set())
    errors: list[str] = []
    stop = threading.Event()
    burst = threading.Thread(target=_burst, daemon=True, args=(
        cloud, vpc_id, table, igw, hc.images["emi"], stop, acked, errors))
    burst.start()
    try:
        wait_for(lambda: acked.enough(8), 90, "changes acknowledged before the kill")
        assert cloud.process is not None
        cloud.process.send_signal(signal.SIGKILL)   # the controller dies mid-burst
        cloud.process.wait(10)
        wait_for(lambda: _port_free(cloud.port), 30, "the killed cloud's port released")
        before = acked.count
        cloud.start()
        wait_for(lambda: acked.count >= before + 4, 90, "changes acknowledged after the restart")
    finally:
        stop.set()
        burst.join(120)
    assert errors, "the burst never saw the cloud down"
    assert acked.enough(12), acked
    # the database kept every acknowledged change
    subnets = {s["SubnetId"] for s in ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    assert set(acked.subnets) <= subnets and not acked.deleted_subnets & subnets
    enis = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["NetworkInterfaces"]}
    assert acked.enis <= enis and not acked.deleted_enis & enis
    routes = {r.get("DestinationCidrBlock") for r in ec2.describe_route_tables(
        RouteTableIds=[table])["RouteTables"][0]["Routes"]}
    assert set(acked.routes) <= routes
    # terminate what runs (an instance launched in the killed moment may be unknown to
    # the burst: terminate every one in the VPC) and wait for the data plane
    live = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        for i in r["Instances"]]
    assert acked.running <= set(live)
    keep = sorted(acked.running)[:2]
    gone = [i for i in live if i not in keep]
    if gone:
        ec2.terminate_instances(InstanceIds=gone)
    wait_for(lambda: not [i for r in ec2.describe_instances(InstanceIds=gone or keep)[
        "Reservations"] for i in r["Instances"] if gone and i["State"]["Name"] != "terminated"],
        60, "the burst's instances terminated")
    hc.converged(60)
    final = hc.topology()
    # ZooKeeper holds exactly what the database has
    assert {s for s in final.subnets if final.subnets[s].vpc_id == vpc_id} == subnets
    # (interfaces on no host are not published: only the kept instances' ones)
    assert {e.id for e in final.enis.values() if e.vpc_id == vpc_id} <= enis
    placed = {e.instance_id for e in final.enis.values() if e.vpc_id == vpc_id and e.host}
    assert placed == set(keep)
    rtb = final.get(t.RouteTable, table)
    assert rtb is not None and set(acked.routes) <= {r.destination for r in rtb.routes}
    # and the hosts hold exactly what it describes: no namespace, tap or dnsmasq left
    problems = [p for h in ("h1", "h2", "gw") for p in _leftovers(hc.world, h, final)]
    assert not problems, problems
