"""An in-memory VPC driver: the reconcile planner's state without a kernel.

Owns: a dictionary model of what `LinuxDriver` would leave on a host
(namespaces with the spec applied to each, peering legs, recorded digests,
host-side links) and a log of the calls, so tests can check that a reconcile
converges, is idempotent, sweeps what is not desired and recovers from a crash
injected at any call (`fail_on`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netd.vpc.plan import HostPlan, NatSpec, PeerLink, RouterSpec


class InjectedCrash(RuntimeError):
    """Raised by `FakeDriver` at the call named in `fail_on`."""


@dataclass
class FakeDriver:
    prefix: str = "vpc-"
    spaces: dict[str, RouterSpec | NatSpec | None] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    peer_links: set[tuple[str, str]] = field(default_factory=set)
    host_links: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    fail_on: str | None = None

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.fail_on is not None and what.startswith(self.fail_on):
            self.fail_on = None
            raise InjectedCrash(what)

    def namespaces(self) -> set[str]:
        return {n for n in self.spaces if n.startswith(self.prefix)}

    def create_namespace(self, ns: str) -> None:
        self._call(f"create {ns}")
        self.spaces[ns] = None

    def delete_namespace(self, ns: str) -> None:
        self._call(f"delete {ns}")
        self.spaces.pop(ns, None)
        self.digests.pop(ns, None)
        self.peer_links = {(a, b) for a, b in self.peer_links if ns not in (a, b)}
        self.host_links = {h for h in self.host_links if not h.endswith("@" + ns)}

    def ensure_peer_link(self, link: PeerLink) -> bool:
        key = (link.ns_a, link.ns_b)
        if key in self.peer_links:
            return False
        self._call(f"peer {link.ns_a} {link.ns_b}")
        if link.ns_a not in self.spaces or link.ns_b not in self.spaces:
            raise RuntimeError("peer link between missing namespaces")
        self.peer_links.add(key)
        return True

    def apply_router(self, spec: RouterSpec) -> None:
        self._call(f"router {spec.ns}")
        if spec.ns not in self.spaces:
            raise RuntimeError(f"router namespace {spec.ns} missing")
        self.spaces[spec.ns] = spec
        for port in spec.ports:
            self.host_links.add(f"{port.outer}@{spec.ns}")

    def apply_nat(self, spec: NatSpec) -> None:
        self._call(f"nat {spec.ns}")
        if spec.ns not in self.spaces or spec.router_ns not in self.spaces:
            raise RuntimeError(f"nat namespace {spec.ns} or its router missing")
        self.spaces[spec.ns] = spec

    def digest(self, ns: str) -> str | None:
        return self.digests.get(ns)

    def set_digest(self, ns: str, digest: str) -> None:
        self._call(f"digest {ns}")
        self.digests[ns] = digest

    def sweep_host(self, plan: HostPlan) -> int:
        want = {f"{p.outer}@{r.ns}" for r in plan.routers.values() for p in r.ports}
        stale = self.host_links - want
        self.host_links -= stale
        return len(stale)
