"""The VPC topology contract against a real ZooKeeper server: atomic versioned
publishes, consistent snapshots, host status, persistence across a server kill."""

from __future__ import annotations

import threading

import pytest

from netd.vpc import topology as t

pytestmark = pytest.mark.integration


@pytest.fixture
def zk(zookeeper):
    client = zookeeper.client()
    if client.exists(t.ROOT):
        client.delete(t.ROOT, recursive=True)
    yield client
    client.stop()
    client.close()


def _vpc(n: int) -> t.Vpc:
    return t.Vpc(id=f"vpc-{n}", vni=100 + n, cidrs=("10.0.0.0/16",))


def test_publish_roundtrips_every_kind_and_bumps_version(zk):
    objs: list[t.Obj] = [
        _vpc(1),
        t.DhcpOptions(id="dopt-1", domain_name="corp.example", domain_name_servers=("10.0.0.2",)),
        t.Subnet(id="subnet-1", vpc_id="vpc-1", cidr="10.0.1.0/24", zone="z1",
                 route_table_id="rtb-1", network_acl_id="acl-1"),
        t.RouteTable(id="rtb-1", vpc_id="vpc-1", routes=(
            t.Route("10.0.0.0/16"), t.Route("0.0.0.0/0", t.TARGET_IGW, "igw-1"))),
        t.InternetGateway(id="igw-1", vpc_id="vpc-1", host="h1",
                          mappings=(t.PublicMapping("198.51.100.5", "10.0.1.5", "eni-1"),)),
        t.NatGateway(id="nat-1", vpc_id="vpc-1", subnet_id="subnet-1", private_ip="10.0.1.9",
                     public_ip="198.51.100.9", host="h1"),
        t.NetworkAcl(id="acl-1", vpc_id="vpc-1", ingress=(t.AclEntry(100, "deny", 6, "0.0.0.0/0", 22, 22),),
                     egress=(t.AclEntry(100),)),
        t.SecurityGroup(id="sg-1", vpc_id="vpc-1", ingress=(t.SgRule(6, 22, 22, groups=("sg-1",)),),
                        egress=(t.SgRule(cidrs=("0.0.0.0/0",)),)),
        t.Eni(id="eni-1", vpc_id="vpc-1", subnet_id="subnet-1", mac="02:00:00:00:00:01",
              private_ips=("10.0.1.5", "10.0.1.6"), group_ids=("sg-1",), host="h1",
              source_dest_check=False, instance_id="i-1"),
        t.Peering(id="pcx-1", requester_vpc_id="vpc-1", accepter_vpc_id="vpc-2", active=True),
    ]
    writer = t.TopologyWriter(zk)
    v = writer.publish(objs)
    topo = t.TopologyReader(zk).load()
    assert topo.version == v
    for o in objs:
        assert topo.get(type(o), o.id) == o
    v2 = writer.publish(deletes=[("enis", "eni-1"), ("enis", "eni-absent")])
    assert v2 == v + 1
    assert "eni-1" not in t.TopologyReader(zk).load().enis


def test_concurrent_writers_all_land_with_distinct_versions(zk):
    versions: list[int] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        v = t.TopologyWriter(zk).publish([_vpc(n)])
        with lock:
            versions.append(v)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(versions) == list(range(1, 9))
    topo = t.TopologyReader(zk).load()
    assert topo.version == 8 and len(topo.vpcs) == 8


def test_replace_all_deletes_what_is_not_desired(zk):
    writer = t.TopologyWriter(zk)
    writer.publish([_vpc(1), _vpc(2)])
    want = t.Topology()
    want.put(_vpc(2))
    want.put(_vpc(3))
    writer.replace_all(want)
    assert sorted(t.TopologyReader(zk).load().vpcs) == ["vpc-2", "vpc-3"]
    assert sorted(zk.get_children(f"{t.ROOT}/vpcs")) == ["vpc-2", "vpc-3"]


def test_host_status_and_persistence_across_server_kill(zookeeper, zk):
    writer = t.TopologyWriter(zk)
    v = writer.publish([_vpc(1)])
    reader = t.TopologyReader(zk)
    reader.report(t.HostStatus(host="h1", version=v, underlay="192.0.2.1"))
    assert reader.wait_applied(v, ["h1"], timeout=1)
    assert not reader.wait_applied(v + 1, ["h1"], timeout=0.2)
    zookeeper.restart()
    zk.retry(lambda: zk.get(t.VERSION_PATH))
    topo = t.TopologyReader(zk).load()
    assert topo.version == v and "vpc-1" in topo.vpcs
    assert reader.hosts()["h1"].underlay == "192.0.2.1"


def test_bad_znode_is_a_topology_error():
    with pytest.raises(t.TopologyError):
        t.loads("vpcs", b"{not json")
    with pytest.raises(t.TopologyError):
        t.loads("vpcs", b'["not", "an", "object"]')
    with pytest.raises(t.TopologyError):
        t.loads("vpcs", b'{"vni": 1}')  # no id
