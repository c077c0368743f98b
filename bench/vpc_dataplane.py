"""Bench: the VPC data plane (netd/vpc) with a real ZooKeeper and namespaces.

1. Topology change -> applied: hosts h1 and h2 run the agent (in-process, real
   Linux driver); one VPC, an instance on each host. 20 rounds flip a security
   group rule (allow / deny tcp/8080 from the other instance); timed from the
   ZooKeeper publish returning until (a) both hosts report the version and
   (b) the first TCP connect is admitted (allow) / refused (deny), probing in
   a loop with a 20 ms connect timeout.
2. From scratch: one host applies 1,000 ENIs in 50 VPCs (2 subnets each,
   route table, ACL, group): ZooKeeper load, plan, reconcile (namespaces,
   bridges, veths, VXLAN, routes, rules, nftables). Without and with dnsmasq
   (one per subnet with local ENIs). Then a steady-state pass.
3. TCP throughput (iperf3, 4 s, 1 stream) between two instance namespaces:
   same host across subnets (through the VPC router), across hosts over
   VXLAN, against a bare veth pair.

Run as root after scripts/deps/{net,zookeeper,bench}.sh:
`python bench/vpc_dataplane.py`. Writes bench/results/vpc_dataplane.md.
`python bench/vpc_dataplane.py --scratch N`: only section 2, N rounds, medians printed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netd import netns
from netd.lab import Lab, Listener, tcp_probe
from netd.links import with_ipr
from netd.vpc import topology as t
from netd.vpc.linux import LinuxDriver
from netd.vpc.plan import HostConfig, plan_host
from netd.vpc.reconcile import reconcile
from tests.infra.zookeeper import start_zookeeper
from tests.integration.test_vpc_dataplane import eni, vpc_objects
from tests.integration.vpc_world import World

RESULTS = Path(__file__).resolve().parent / "results" / "vpc_dataplane.md"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def change_latency(zk, tmp: Path, rounds: int = 20) -> dict[str, list[float]]:
    w = World(zk, tmp / "lat", hosts=("h1", "h2"))
    out: dict[str, list[float]] = {"applied": [], "admitted": [], "refused": []}
    try:
        base = vpc_objects("vpc-a", 4001, sg_ingress=())
        e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
        e2 = eni(2, "vpc-a", 2, "h2", "10.0.2.5")
        w.start_agent("h1", resync=30)
        w.start_agent("h2", resync=30)
        w.applied(w.publish(*base, e1, e2), ("h1", "h2"))
        i1, i2 = w.plug(e1, "10.0.1.0/24"), w.plug(e2, "10.0.2.0/24")
        with Listener(i2, 8080):
            for n in range(rounds * 2):
                allow = n % 2 == 0
                ingress = (t.SgRule(6, 8080, 8080, cidrs=("10.0.1.5/32",)),) if allow else ()
                sg = t.SecurityGroup(id="sg-vpc-a", vpc_id="vpc-a", ingress=ingress,
                                     egress=(t.SgRule(cidrs=("0.0.0.0/0",)),))
                v = w.publish(sg)
                t1 = time.monotonic()
                done: dict[str, float] = {}

                def wait_applied(v: int = v, done: dict[str, float] = done) -> None:
                    w.reader.wait_applied(v, ["h1", "h2"], 10)
                    done["applied"] = time.monotonic()

                th = threading.Thread(target=wait_applied)
                th.start()
                while time.monotonic() - t1 < 10:
                    ok = tcp_probe(i1, "10.0.2.5", 8080, timeout=0.02) is not None
                    if ok == allow:
                        break
                t2 = time.monotonic()
                th.join()
                out["admitted" if allow else "refused"].append(t2 - t1)
                out["applied"].append(done["applied"] - t1)
    finally:
        w.close()
    return out


def scratch(zk, tmp: Path, dhcp: bool) -> dict[str, float]:
    lab = Lab()
    try:
        lab.make_underlay()
        host_ns = lab.add_host("h1", "192.168.100.11/24", router=None)
        client = zk.client()
        if client.exists(t.ROOT):
            client.delete(t.ROOT, recursive=True)
        writer = t.TopologyWriter(client)
        objs: list[t.Obj] = []
        for v in range(50):
            vpc = f"vpc-s{v:02d}"
            objs += vpc_objects(vpc, 5000 + v)
            for k in range(20):
                objs.append(t.Eni(id=f"eni-{vpc}-{k}", vpc_id=vpc, subnet_id=f"sn{1 + k % 2}-{vpc}",
                                  mac=f"02:00:{v:02x}:00:{k:02x}:01",
                                  private_ips=(f"10.0.{1 + k % 2}.{10 + k}",),
                                  group_ids=(f"sg-{vpc}",), host="h1"))
        for i in range(0, len(objs), 200):
            writer.publish(objs[i:i + 200])
        cfg = HostConfig(host="h1", underlay_ip="192.168.100.11", underlay_dev="ul0",
                         host_ns=host_ns, prefix=f"{lab.prefix}-s-", dhcp=dhcp)
        driver = LinuxDriver(cfg, tmp / f"scratch-{dhcp}")
        reader = t.TopologyReader(client)
        t0 = time.monotonic()
        topo = reader.load()
        t1 = time.monotonic()
        plan = plan_host(topo, cfg, {"h1": "192.168.100.11"})
        t2 = time.monotonic()
        res = reconcile(plan, driver)
        t3 = time.monotonic()
        again = reconcile(plan_host(reader.load(), cfg, {"h1": "192.168.100.11"}), driver)
        t4 = time.monotonic()
        ports = sum(len(r.ports) for r in plan.routers.values())
        assert ports == 1000 and len(res.created) == 50, (ports, res.created)
        for ns in driver.namespaces():
            driver.delete_namespace(ns)
        client.stop()
        client.close()
        return {"load": t1 - t0, "plan": t2 - t1, "reconcile": t3 - t2, "total": t3 - t0,
                "steady": t4 - t3, "steady_applied": float(len(again.applied))}
    finally:
        lab.close()


def iperf(client_ns: str, server_ns: str, ip: str, seconds: int = 4) -> float:
    srv = subprocess.Popen(netns.exec_prefix(server_ns) + ["iperf3", "-s", "-1", "-B", ip],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(netns.exec_prefix(client_ns) + [
            "iperf3", "-c", ip, "-t", str(seconds), "-J"], capture_output=True, text=True,
            timeout=seconds + 20)
        data = json.loads(out.stdout)
        return float(data["end"]["sum_received"]["bits_per_second"])
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait(10)


def throughput(zk, tmp: Path) -> dict[str, float]:
    w = World(zk, tmp / "tp", hosts=("h1", "h2"))
    try:
        base = vpc_objects("vpc-a", 6001, sg_ingress=(t.SgRule(cidrs=("10.0.0.0/16",)),))
        e1 = eni(1, "vpc-a", 1, "h1", "10.0.1.5")
        e2 = eni(2, "vpc-a", 2, "h1", "10.0.2.5")
        e3 = eni(3, "vpc-a", 2, "h2", "10.0.2.6")
        w.start_agent("h1", resync=60)
        w.start_agent("h2", resync=60)
        w.applied(w.publish(*base, e1, e2, e3), ("h1", "h2"))
        i1, i2 = w.plug(e1, "10.0.1.0/24"), w.plug(e2, "10.0.2.0/24")
        i3 = w.plug(e3, "10.0.2.0/24")
        a, b = w.lab.ns("bare-a"), w.lab.ns("bare-b")
        fd = os.open(f"/run/netns/{b}", os.O_RDONLY)
        try:
            with_ipr(a, lambda ipr: ipr.link("add", ifname="eth0", kind="veth",
                                             peer={"ifname": "eth0", "net_ns_fd": fd}))
        finally:
            os.close(fd)
        for ns, ip in ((a, "10.9.0.1"), (b, "10.9.0.2")):
            subprocess.run(netns.exec_prefix(ns) + ["ip", "addr", "add", f"{ip}/24", "dev", "eth0"],
                           check=True)
            subprocess.run(netns.exec_prefix(ns) + ["ip", "link", "set", "eth0", "up"], check=True)
        # Interleaved rounds: the machine is shared, so each ratio compares runs
        # taken moments apart; medians over the rounds.
        runs: dict[str, list[float]] = {"bare": [], "same_host": [], "cross_host": []}
        for _ in range(3):
            runs["bare"].append(iperf(a, b, "10.9.0.2"))
            runs["same_host"].append(iperf(i1, i2, "10.0.2.5"))
            runs["cross_host"].append(iperf(i1, i3, "10.0.2.6"))
        out = {k: statistics.median(v) for k, v in runs.items()}
        out["same_ratio"] = statistics.median(s / b for s, b in zip(runs["same_host"],
                                                                    runs["bare"], strict=True))
        out["cross_ratio"] = statistics.median(c / b for c, b in zip(runs["cross_host"],
                                                                     runs["bare"], strict=True))
        return out
    finally:
        w.close()


def main() -> None:
    load_before = os.getloadavg()[0]
    zk = start_zookeeper()
    tmp = Path(tempfile.mkdtemp(prefix="vpc-bench-"))
    try:
        lat = change_latency(zk, tmp)
        s_nodhcp = scratch(zk, tmp, dhcp=False)
        s_dhcp = scratch(zk, tmp, dhcp=True)
        tp = throughput(zk, tmp)
    finally:
        zk.remove()
    lines = [
        "# VPC data plane (bench/vpc_dataplane.py)",
        "",
        "Real ZooKeeper 3.8 (one local server), host agents in-process with the Linux",
        "driver, hosts and instances as namespaces on one machine.",
        "",
        "## Topology change -> applied (20 allow + 20 deny flips of a group rule)",
        "Timed from the ZooKeeper publish returning.",
        f"- both hosts report the version: p50 {ms(statistics.median(lat['applied']))}, "
        f"p90 {ms(pct(lat['applied'], 0.9))}, max {ms(max(lat['applied']))}",
        f"- first TCP connect admitted (allow): p50 {ms(statistics.median(lat['admitted']))}, "
        f"p90 {ms(pct(lat['admitted'], 0.9))}",
        f"- first TCP connect refused (deny): p50 {ms(statistics.median(lat['refused']))}, "
        f"p90 {ms(pct(lat['refused'], 0.9))}",
        "- target p50 <= 200 ms",
        "",
        "## One host, 1,000 ENIs in 50 VPCs, from scratch",
        "50 router namespaces, 100 subnet bridges, 1,000 veths, 50 VXLAN ports, routes,",
        "rules, nftables (anti-spoofing, ACLs, 1,000 group chains).",
    ]
    for name, s in (("without dnsmasq", s_nodhcp), ("with dnsmasq (100 subnets)", s_dhcp)):
        lines.append(f"- {name}: total {s['total']:.2f} s (ZooKeeper load {s['load']:.2f} s, "
                     f"plan {s['plan']:.2f} s, reconcile {s['reconcile']:.2f} s); "
                     f"steady-state pass {s['steady']:.2f} s "
                     f"({int(s['steady_applied'])} namespaces re-applied)")
    lines += [
        "- target <= 3 s. Where the time goes: creating 50 namespaces, 1,000 veth pairs",
        "  (one end created directly in the router namespace), 100 bridges and 50 VXLAN",
        "  ports is kernel work (~1 s of it for the veths alone here); per router one",
        "  netlink read (none for a namespace the agent has just made: it holds only",
        "  `lo`), one `ip -batch` in the host and one in the router, one nftables",
        "  transaction; 8 routers are applied side by side; router namespaces have IPv6",
        "  off before any link exists (no link-local address, DAD or MLD per device).",
        "  The ZooKeeper load reads every object znode (asynchronously), ~0.4 ms each.",
        "",
        "## TCP throughput (iperf3, 1 stream, 4 s; 3 interleaved rounds, medians; ratio =",
        "median of the per-round ratios)",
        f"- bare veth pair: {tp['bare'] / 1e9:.2f} Gbit/s",
        f"- same host, across subnets (VPC router, ACLs, groups): "
        f"{tp['same_host'] / 1e9:.2f} Gbit/s = {tp['same_ratio']:.2f} x bare "
        "(target >= 0.8)",
        f"- across hosts over VXLAN: {tp['cross_host'] / 1e9:.2f} Gbit/s = "
        f"{tp['cross_ratio']:.2f} x bare (target >= 0.5)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on the 2-core development machine, shared "
        f"with other work while it ran (load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after): expect the from-scratch and throughput figures "
        "to move by tens of percent between runs.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def scratch_rounds(rounds: int) -> None:
    """``--scratch N``: only the from-scratch apply, N interleaved rounds without and with
    dnsmasq, medians printed (the results file is left alone)."""
    zk = start_zookeeper()
    tmp = Path(tempfile.mkdtemp(prefix="vpc-bench-"))
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    try:
        for _ in range(rounds):
            for dhcp in (False, True):
                runs[dhcp].append(scratch(zk, tmp, dhcp=dhcp))
                print("with" if dhcp else "without", "dnsmasq",
                      {k: round(v, 2) for k, v in runs[dhcp][-1].items()}, flush=True)
    finally:
        zk.remove()
    for dhcp, xs in runs.items():
        print(f"{'with' if dhcp else 'without'} dnsmasq: median total "
              f"{statistics.median(x['total'] for x in xs):.2f} s, reconcile "
              f"{statistics.median(x['reconcile'] for x in xs):.2f} s "
              f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--scratch":
        scratch_rounds(int(sys.argv[2]))
        sys.exit(0)
    main()
