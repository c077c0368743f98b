"""Crash safety of the VPC data plane: kill -9 the host agent and the ZooKeeper server
during a burst of topology changes; everything converges to the latest state and
nothing is left of deleted objects (namespaces, links, nftables tables, dnsmasq
processes, znodes)."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from netd.lab import Listener, tcp_probe
from netd.links import with_ipr
from netd.vpc import topology as t
from netd.vpc.linux import DHCP_DIR
from netd.vpc.names import outside_leg_name
from netd.vpc.plan import plan_host
from tests.integration.test_vpc_dataplane import eni, vpc_objects
from tests.integration.vpc_world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def world(zookeeper, tmp_path: Path):
    w = World(zookeeper, tmp_path, hosts=("h1", "h2"), dhcp=True)
    yield w
    w.close()


def _publish_retrying(world: World, puts: list[t.Obj], deletes: list[tuple[str, str]]) -> int:
    deadline = time.monotonic() + 60
    while True:
        try:
            return world.writer.publish(puts, deletes)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _burst(world: World, stop: threading.Event, log: list[str]) -> None:
    rng = random.Random(7)
    n = 0
    while not stop.is_set():
        n += 1
        v = rng.randrange(6)
        vpc = f"vpc-x{v}"
        if rng.random() < 0.3:
            objs = vpc_objects(vpc, 2000 + v)
            _publish_retrying(world, [], [(o.kind, o.id) for o in objs]
                              + [("enis", f"eni-{vpc}-{k}") for k in range(4)])
            log.append(f"del {vpc}")
        else:
            k = rng.randrange(4)
            e = eni(k, vpc, 1 + k % 2, rng.choice(("h1", "h2")), f"10.0.{1 + k % 2}.{10 + k}")
            _publish_retrying(world, [*vpc_objects(vpc, 2000 + v), e], [])
            log.append(f"put {e.id}@{e.host}")
        time.sleep(0.02)


def _leftovers(world: World, host: str, final: t.Topology) -> list[str]:
    cfg = world.cfgs[host]
    driver = world.driver(host)
    underlays = {h: s.underlay for h, s in world.reader.hosts().items()}
    plan = plan_host(final, cfg, underlays)
    problems: list[str] = []
    have = driver.namespaces()
    if have != plan.namespaces():
        problems.append(f"{host} namespaces {sorted(have)} != {sorted(plan.namespaces())}")
    taps = {p.outer for r in plan.routers.values() for p in r.ports}
    taps |= {outside_leg_name(ns) for ns, r in plan.routers.items() if r.outside is not None}
    links = with_ipr(cfg.host_ns, lambda ipr: [str(m.get_attr("IFLA_IFNAME"))
                                               for m in ipr.get_links()])
    extra = [name for name in links if name.startswith(("te", "x", "o")) and name not in taps
             and len(name) == 14]
    if extra:
        problems.append(f"{host} leftover host links {extra}")
    want_dhcp = {driver.state_dir / r.ns / DHCP_DIR for r in plan.routers.values() if r.dhcp}
    procs = driver.dnsmasq_processes()
    if set(procs.values()) != want_dhcp or len(procs) != len(want_dhcp):
        problems.append(f"{host} dnsmasq {sorted(map(str, procs.values()))} "
                        f"!= {sorted(map(str, want_dhcp))}")
    return problems


def test_kill_agent_and_zookeeper_during_burst_converges_and_leaves_nothing(world, zookeeper):
    world.start_agent_process("h1")
    world.start_agent_process("h2")
    stop = threading.Event()
    log: list[str] = []
    burst = threading.Thread(target=_burst, args=(world, stop, log), daemon=True)
    burst.start()
    try:
        time.sleep(1.5)
        world.kill_agent_process("h1")            # agent dies mid-burst
        time.sleep(0.7)
        world.start_agent_process("h1")
        time.sleep(1.0)
        zookeeper.kill()                          # the topology store dies mid-burst
        time.sleep(1.0)
        # SIGTERM while ZooKeeper is away: the agent leaves at once (its data plane as
        # last applied), not when ZooKeeper comes back
        h2 = world.procs.pop("h2")
        h2.send_signal(signal.SIGTERM)
        try:
            h2.wait(10)
        except subprocess.TimeoutExpired:
            h2.kill()
            h2.wait(10)
            raise
        zookeeper.start()
        time.sleep(1.5)
        world.start_agent_process("h2")
        time.sleep(1.0)
    finally:
        stop.set()
        burst.join(60)
    assert len(log) > 20, log
    # The latest state: vpc-x0 removed entirely, vpc-x1 with one ENI per host.
    gone = vpc_objects("vpc-x0", 2000)
    e1 = eni(0, "vpc-x1", 1, "h1", "10.0.1.10")
    e2 = eni(1, "vpc-x1", 2, "h2", "10.0.2.11")
    _publish_retrying(world, [], [(o.kind, o.id) for o in gone]
                      + [("enis", f"eni-vpc-x0-{k}") for k in range(4)]
                      + [("enis", f"eni-vpc-x1-{k}") for k in (2, 3)])
    v = _publish_retrying(world, [*vpc_objects("vpc-x1", 2001), e1, e2], [])
    world.applied(v, ("h1", "h2"), timeout=30)
    final = world.reader.load()
    assert not any(i.startswith("eni-vpc-x0") for i in final.enis)
    assert "vpc-x0" not in world.zk.get_children(f"{t.ROOT}/vpcs")
    assert not [c for c in world.zk.get_children(f"{t.ROOT}/subnets") if c.endswith("vpc-x0")]
    problems = _leftovers(world, "h1", final) + _leftovers(world, "h2", final)
    assert not problems, problems
    # And the converged state carries packets.
    i1, i2 = world.plug(e1, "10.0.1.0/24"), world.plug(e2, "10.0.2.0/24")
    with Listener(i2, 8080):
        assert tcp_probe(i1, "10.0.2.11", 8080, timeout=2.5) == "10.0.1.10"
