"""Mark-and-sweep reconcile of one host against its `HostPlan`, through a `Driver`.

Owns: the order of operations, independent of the kernel. Mark: list the
namespaces this host's agent owns (by name prefix). Sweep: remove every owned
namespace not in the plan (its daemons first, then the namespace, which takes
its links, routes, rules and nftables tables with it), then the host-side
leftovers. Create: missing namespaces, then the veth legs between peered
routers, then each router and NAT namespace whose applied digest differs
from the plan (the old digest is cleared before and the new one recorded only
after a successful apply, so a crash mid-way leaves a mismatch and the next
pass redoes it, even when the plan went back to what was applied before). A forced pass
ignores digests (the periodic full resync repairs outside tampering).

`Driver` is the seam: `netd.vpc.linux.LinuxDriver` programs the kernel,
`netd.vpc.fake.FakeDriver` keeps the state in memory for the planner's tests.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from netd.vpc.plan import HostPlan, NatSpec, PeerLink, RouterSpec


class Driver(Protocol):
    def namespaces(self) -> set[str]: ...
    def create_namespace(self, ns: str) -> None: ...
    def delete_namespace(self, ns: str) -> None: ...
    def ensure_peer_link(self, link: PeerLink) -> bool: ...
    def apply_router(self, spec: RouterSpec) -> None: ...
    def apply_nat(self, spec: NatSpec) -> None: ...
    def digest(self, ns: str) -> str | None: ...
    def set_digest(self, ns: str, digest: str) -> None: ...
    def sweep_host(self, plan: HostPlan) -> int: ...


@dataclass
class Result:
    version: int
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    host_swept: int = 0
    seconds: float = 0.0


def reconcile(plan: HostPlan, driver: Driver, force: bool = False, workers: int = 8) -> Result:
    t0 = time.monotonic()
    res = Result(version=plan.version)
    have = driver.namespaces()
    want = plan.namespaces()
    # NAT namespaces hang off router bridges: remove them first.
    for ns in sorted(have - want, key=lambda n: (n not in plan.nats, n)):
        driver.delete_namespace(ns)
        res.deleted.append(ns)
    missing = sorted(want - have)
    if len(missing) > 1 and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(driver.create_namespace, missing))
    else:
        for ns in missing:
            driver.create_namespace(ns)
    res.created += missing
    dirty = set(res.created)
    for link in plan.peer_links:
        if driver.ensure_peer_link(link):
            dirty |= {link.ns_a, link.ns_b}
    todo = [spec for ns, spec in sorted(plan.routers.items())
            if force or ns in dirty or driver.digest(ns) != spec.digest]

    def apply(spec: RouterSpec) -> str:
        # Forget the old digest first: a crash mid-apply must not leave a digest that a
        # later plan equal to the old one would trust.
        driver.set_digest(spec.ns, "")
        driver.apply_router(spec)
        driver.set_digest(spec.ns, spec.digest)
        return spec.ns

    # Routers are independent of each other: apply them side by side (the kernel
    # work and helper programs overlap); the first failure is raised.
    if len(todo) > 1 and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            res.applied += list(pool.map(apply, todo))
    else:
        res.applied += [apply(spec) for spec in todo]
    for ns, nat in sorted(plan.nats.items()):
        if force or ns in dirty or nat.router_ns in res.applied or driver.digest(ns) != nat.digest:
            driver.set_digest(ns, "")
            driver.apply_nat(nat)
            driver.set_digest(ns, nat.digest)
            res.applied.append(ns)
    res.host_swept = driver.sweep_host(plan)
    res.seconds = time.monotonic() - t0
    return res
