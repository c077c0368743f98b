"""The VPC host agent: watch the topology in ZooKeeper, reconcile this host, report.

Owns: the loop of netd in VPC mode on one host. It registers the host's
underlay address under `/cloud/vpc/v1/hosts/<host>`, sets a kazoo data watch
on the version znode and a children watch on the hosts directory (both only
wake the loop), and on every wake-up, and at least every `resync` seconds
(a forced pass that ignores digests), loads a consistent snapshot, plans this
host, reconciles it through the driver and reports the version it applied
(or the error). Losing ZooKeeper only pauses the loop: the data plane stays
as last applied and the next successful load converges it; SIGTERM stops the agent
within a few seconds even while ZooKeeper is unreachable.

Run: `netd vpc-agent` (or `python -m netd.vpc.agent`) `--zookeeper 127.0.0.1:2181 --host h1
[--host-ns <netns>] --underlay-ip 192.168.100.11 --underlay-dev ul0
--state-dir /var/lib/cloud/vpc [--outside-bridge br-out --outside-gateway IP]
[--metadata-upstream unix:/path]`. With `--teardown` it removes everything it owns on
this host (an empty plan reconciled: namespaces, helpers, host-side legs) and exits,
without ZooKeeper (what `cloudctl up` runs after stopping the agent).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from netd.vpc import topology as t
from netd.vpc.plan import HostConfig, plan_host
from netd.vpc.reconcile import Driver, Result, reconcile

log = logging.getLogger("netd.vpc.agent")
STOP_GRACE = 5.0  # seconds the loop gets to finish after SIGTERM


class VpcAgent:
    def __init__(self, client: Any, cfg: HostConfig, driver: Driver,
                 resync: float = 5.0) -> None:
        self.client = client
        self.cfg = cfg
        self.driver = driver
        self.resync = resync
        self.reader = t.TopologyReader(client)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.last: Result | None = None
        self.applied = -1
        self._watching = False

    def _watch(self) -> None:
        if self._watching:
            return
        t.ensure_layout(self.client)

        def on_version(_data: Any, _stat: Any, *_a: Any) -> None:
            self.wake.set()

        def on_hosts(_children: Any) -> None:
            self.wake.set()

        self.client.DataWatch(t.VERSION_PATH, on_version)
        self.client.ChildrenWatch(t.HOSTS_PATH, on_hosts)
        self._watching = True

    def _report(self, version: int, error: str | None) -> None:
        self.reader.report(t.HostStatus(host=self.cfg.host, version=version,
                                        underlay=self.cfg.underlay_ip,
                                        applied_at=time.time(), error=error))

    def step(self, force: bool = False) -> Result:
        """One load-plan-reconcile-report pass."""
        self._watch()
        if self.applied < 0:
            self._report(self.applied, None)  # register the underlay before planning
        topo = self.reader.load()
        underlays = {h: s.underlay for h, s in self.reader.hosts().items() if s.underlay}
        plan = plan_host(topo, self.cfg, underlays)
        try:
            res = reconcile(plan, self.driver, force=force)
        except Exception as exc:
            self._report(self.applied, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        self.applied = topo.version
        self.last = res
        self._report(topo.version, None)
        return res

    def run(self) -> None:
        next_full = 0.0
        backoff = 0.1
        while not self.stopping.is_set():
            now = time.monotonic()
            force = now >= next_full
            self.wake.clear()
            try:
                res = self.step(force=force)
                backoff = 0.1
                if force:
                    next_full = now + self.resync
                if res.applied or res.deleted:
                    log.info("applied v%d: +%s -%s ~%s in %.3fs", res.version, res.created,
                             res.deleted, res.applied, res.seconds)
            except Exception:
                log.exception("VPC reconcile failed; retrying")
                self.wake.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.wake.wait(max(0.0, min(self.resync, next_full - time.monotonic())))

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def teardown(cfg: HostConfig, driver: Driver) -> Result:
    """Remove everything of ours on this host: reconcile a plan with nothing in it."""
    return reconcile(plan_host(t.Topology(version=0), cfg, {}), driver, force=True)


def main(argv: list[str] | None = None, prog: str = "netd-vpc") -> None:
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    from netd.vpc.linux import LinuxDriver

    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--zookeeper", default="")
    ap.add_argument("--host", required=True)
    ap.add_argument("--host-ns", default="",
                    help="named netns of the host (default: the agent's own namespace)")
    ap.add_argument("--underlay-ip", required=True)
    ap.add_argument("--underlay-dev", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--prefix", default=None)
    ap.add_argument("--outside-bridge")
    ap.add_argument("--outside-gateway")
    ap.add_argument("--region", default="cloud-1")
    ap.add_argument("--no-dhcp", action="store_true")
    ap.add_argument("--guest-bridges", action="store_true",
                    help="a host bridge tb<hex> per local ENI for hypervisor taps")
    ap.add_argument("--resync", type=float, default=5.0)
    ap.add_argument("--metadata-upstream",
                    help="the metadata server (unix:/path or tcp:host:port) for 169.254.169.254")
    ap.add_argument("--teardown", action="store_true",
                    help="remove everything this agent made on the host, then exit")
    args = ap.parse_args(argv)
    if not args.zookeeper and not args.teardown:
        ap.error("--zookeeper is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = HostConfig(host=args.host, underlay_ip=args.underlay_ip,
                     underlay_dev=args.underlay_dev, host_ns=args.host_ns,
                     prefix=args.prefix or f"vpc-{args.host}-",
                     outside_bridge=args.outside_bridge, outside_gateway=args.outside_gateway,
                     region=args.region, dhcp=not args.no_dhcp,
                     metadata_upstream=args.metadata_upstream, python=sys.executable,
                     guest_bridges=args.guest_bridges)
    if args.teardown:
        res = teardown(cfg, LinuxDriver(cfg, Path(args.state_dir)))
        log.info("torn down: -%s", res.deleted)
        return
    client = KazooClient(hosts=args.zookeeper, timeout=5.0,
                         connection_retry=KazooRetry(max_tries=-1, max_delay=1.0),
                         command_retry=KazooRetry(max_tries=3, max_delay=1.0))
    client.start(timeout=60)
    agent = VpcAgent(client, cfg, LinuxDriver(cfg, Path(args.state_dir)), resync=args.resync)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    run_until_stopped(agent, client)


def run_until_stopped(agent: VpcAgent, client: Any, grace: float = STOP_GRACE) -> None:
    """Run the agent's loop until SIGTERM (``agent.stop``), then leave within ``grace``
    seconds even when ZooKeeper is gone: a kazoo call waiting for the lost connection
    would hold the loop (and ``client.stop``) for as long as ZooKeeper stays away. The
    data plane stays as last applied either way."""
    loop = threading.Thread(target=agent.run, name="vpc-agent", daemon=True)
    loop.start()
    while loop.is_alive() and not agent.stopping.wait(0.5):
        pass
    loop.join(grace)
    closing = threading.Thread(target=lambda: (client.stop(), client.close()),
                               name="zookeeper-close", daemon=True)
    closing.start()
    closing.join(grace)
    if loop.is_alive() or closing.is_alive():
        log.warning("stopping without ZooKeeper: the loop did not finish in %.0fs", grace)


if __name__ == "__main__":
    main()
