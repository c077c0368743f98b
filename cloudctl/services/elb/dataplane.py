"""Drives the data plane: from the load balancers recorded by the API (and what EC2
and IAM say of their instances and certificates, through their public apis) to netd's
`LbPlane` specs, applied by a reconciler on the leader; and the `HealthSource` every
API worker reads DescribeInstanceHealth from (haproxy's runtime API, via netd).

One key (``all``): the plane's reconcile is mark-and-sweep over every load balancer,
so a deleted one is removed with its namespace and haproxy. Runs again every
``loadbalancing.supervise_interval_sec`` (a killed haproxy comes back) and when an API
call wakes it."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.elb import properties as props
from cloudctl.services.elb.common import dns_name
from cloudctl.services.elb.health import BackendHealth
from cloudctl.services.elb.metrics import Sampler
from cloudctl.services.elb.models import ElbLoadBalancer
from cloudctl.services.network import config as network_config
from netd.dns import DnsServer
from netd.lb import LbPlane
from netd.lbspec import Backend, HealthCheck, LbSpec, Listener, uplink_mac
from netd.vpc.names import guest_bridge_name, lb_port_name

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cloudctl.server.cloud import Cloud

CONTROLLER = RuntimeKey["DataPlaneController"]("elb.dataplane")


def settings(cloud: Cloud) -> dict[str, Any]:
    value = cloud.properties.get(props.DATAPLANE)
    return dict(value) if isinstance(value, dict) else {}


def plane_of(cloud: Cloud, conf: dict[str, Any]) -> LbPlane:
    state = conf.get("state_dir") or str(cloud.settings.run_dir / "netd-elb")
    return LbPlane(Path(state))


def _policy(lb: ElbLoadBalancer, name: str) -> dict[str, Any] | None:
    return next((p for p in lb.policies if p["PolicyName"] == name), None)


def _attr(policy: dict[str, Any], name: str) -> str | None:
    for attr in policy.get("PolicyAttributeDescriptions") or []:
        if attr.get("AttributeName") == name:
            return str(attr.get("AttributeValue"))
    return None


async def _listener(session: AsyncSession, cloud: Cloud, lb: ElbLoadBalancer,
                    raw: dict[str, Any]) -> Listener:
    from cloudctl.services.iam.api import server_certificate

    pem = None
    if raw.get("SSLCertificateId"):
        cert = await server_certificate(session, cloud.secrets, lb.account_id,
                                        str(raw["SSLCertificateId"]))
        if cert is not None:
            pem = "\n".join(p.strip() for p in (cert.body, cert.chain, cert.private_key)
                            if p.strip()) + "\n"
    lb_cookie: int | None = None
    app_cookie: str | None = None
    for name in raw.get("PolicyNames") or []:
        policy = _policy(lb, name)
        if policy is None:
            continue
        if policy["PolicyTypeName"] == "LBCookieStickinessPolicyType":
            lb_cookie = int(_attr(policy, "CookieExpirationPeriod") or 0)
        elif policy["PolicyTypeName"] == "AppCookieStickinessPolicyType":
            app_cookie = _attr(policy, "CookieName")
    protocols, ciphers = tls_of(lb, raw)
    proxy = False
    for name in (lb.backend_policies or {}).get(str(raw["InstancePort"]), []):
        policy = _policy(lb, name)
        if policy and policy["PolicyTypeName"] == "ProxyProtocolPolicyType":
            proxy = (_attr(policy, "ProxyProtocol") or "").lower() == "true"
    return Listener(str(raw["Protocol"]), int(raw["LoadBalancerPort"]),
                    str(raw["InstanceProtocol"]), int(raw["InstancePort"]),
                    certificate=pem, lb_cookie=lb_cookie, app_cookie=app_cookie,
                    proxy_protocol=proxy, tls_protocols=protocols, tls_ciphers=ciphers)


def tls_of(lb: ElbLoadBalancer,
           raw: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(protocols, ciphers) of the listener's SSL negotiation policy; empty: none set.
    Protocols as haproxy's range takes them ("Protocol-TLSv1.1" -> "TLSv1.1")."""
    from cloudctl.services.elb.ssl_policies import effective

    if raw.get("Protocol") not in ("HTTPS", "SSL"):
        return (), ()
    for name in raw.get("PolicyNames") or []:
        policy = _policy(lb, name)
        if policy and policy["PolicyTypeName"] == "SSLNegotiationPolicyType":
            protocols, ciphers, _order = effective(
                list(policy.get("PolicyAttributeDescriptions") or []))
            return tuple(p.removeprefix("Protocol-") for p in protocols), ciphers
    return (), ()


def _allocate(pool: ipaddress.IPv4Network, used: set[str]) -> str:
    for host in pool.hosts():
        if str(host) not in used:
            return str(host)
    raise RuntimeError(f"no free load balancer address in {pool}")


async def desired_specs(cloud: Cloud, conf: dict[str, Any]
                        ) -> tuple[list[LbSpec], dict[str, list[str]]]:
    """Every load balancer as netd runs it (addresses allocated and recorded: one
    haproxy, or one a zone: in a VPC always, outside one with cross-zone load
    balancing off), and the DNS records of their names (every node's address)."""
    from cloudctl.services.ec2.api import instance_facts

    pool = ipaddress.IPv4Network(conf.get("addresses") or "0.0.0.0/32")  # none: VPC only
    prefix = int(conf.get("prefix_len") or 24)
    specs = []
    records: dict[str, list[str]] = {}
    async with cloud.sessions() as session, session.begin():
        rows = (await session.execute(select(ElbLoadBalancer).order_by(
            ElbLoadBalancer.created_at))).scalars().all()
        used = {a for r in rows for a in _private_addresses(r)
                if ipaddress.IPv4Address(a) in pool}
        public_pool = (ipaddress.IPv4Network(conf["public_addresses"])
                       if conf.get("public_addresses") else None)
        pools = Pools(pool, used, public_pool, {a for r in rows for a in _public_addresses(r)})
        for lb in rows:
            nodes = await vpc_nodes(session, conf, lb)
            if (lb.subnets and not nodes) or (not lb.subnets and not conf.get("addresses")):
                continue  # its interfaces are not there yet (or gone), or no EDGE pool
            if nodes:  # its addresses are its interfaces' (the IGW maps the public ones)
                lb.address = nodes[0].uplink["address"].split("/")[0]
                lb.public_address = nodes[0].public_ip
            else:
                nodes = edge_nodes(lb, conf, pools, prefix)
            records[dns_name(cloud, lb)] = [
                n.public_ip or n.uplink["address"].split("/")[0] for n in nodes]
            facts = await instance_facts(session, lb.account_id, lb.region,
                                         list(lb.instances))
            hc = lb.health_check
            drain = lb.attributes.get("ConnectionDraining") or {}
            idle = (lb.attributes.get("ConnectionSettings") or {}).get("IdleTimeout", 60)
            listeners = tuple([await _listener(session, cloud, lb, raw)
                               for raw in lb.listeners])
            for node in nodes:
                backends = node_backends(list(lb.instances), facts, node.zone)
                specs.append(LbSpec(
                    lb_id=node.node_id, **node.uplink,
                    public_address=(f"{node.public_ip}/"
                                    f"{int(conf.get('public_prefix_len') or 24)}"
                                    if node.public_ip and not lb.subnets else None),
                    public_netns=conf.get("public_netns"),
                    public_bridge=conf.get("public_bridge"),
                    public_gateway=conf.get("public_gateway"),
                    listeners=listeners, backends=backends,
                    health=HealthCheck(str(hc["Target"]), int(hc["Interval"]),
                                       int(hc["Timeout"]), int(hc["UnhealthyThreshold"]),
                                       int(hc["HealthyThreshold"])),
                    drain_timeout=(int(drain.get("Timeout", 300)) if drain.get("Enabled")
                                   else 0),
                    idle_timeout=int(idle),
                    access_log=bool((lb.attributes.get("AccessLog") or {}).get("Enabled"))))
    return specs, records


def _private_addresses(lb: ElbLoadBalancer) -> list[str]:
    zone_nodes = [str(z[1]) for z in lb.zone_addresses or [] if z[1]]
    return ([lb.address] if lb.address else []) + zone_nodes


def _public_addresses(lb: ElbLoadBalancer) -> list[str]:
    zone_nodes = [str(z[2]) for z in lb.zone_addresses or [] if z[2]]
    return ([lb.public_address] if lb.public_address else []) + zone_nodes


@dataclass
class Pools:
    """The EDGE address pools and the addresses taken from them."""

    private: ipaddress.IPv4Network
    used: set[str]
    public: ipaddress.IPv4Network | None
    public_used: set[str]

    def keep(self, address: str | None) -> str:
        """``address`` if it is in the private pool, else a free one (taken)."""
        if address and ipaddress.IPv4Address(address) in self.private:
            return address
        address = _allocate(self.private, self.used)
        self.used.add(address)
        return address

    def keep_public(self, address: str | None, internal: bool) -> str | None:
        if self.public is None or internal:
            return None
        if address and ipaddress.IPv4Address(address) in self.public:
            return address
        address = _allocate(self.public, self.public_used)
        self.public_used.add(address)
        return address


def edge_nodes(lb: ElbLoadBalancer, conf: dict[str, Any], pools: Pools,
               prefix: int) -> list[Node]:
    """The haproxy nodes of a load balancer outside a VPC, on the EDGE uplink bridge:
    with cross-zone load balancing off one an enabled zone (the first at the load
    balancer's address, the others at the ``zone_addresses`` recorded for them),
    each sending to its zone's instances; with it on, one sending to all. Addresses
    are allocated from the pools and recorded on the row (a zone disabled frees its)."""
    cross = bool((lb.attributes.get("CrossZoneLoadBalancing") or {}).get("Enabled"))
    zones: list[str | None] = [None] if cross or not lb.zones else list(lb.zones)
    internal = lb.scheme == "internal"
    lb.address = pools.keep(lb.address)
    lb.public_address = pools.keep_public(lb.public_address, internal)
    known = {str(z[0]): z for z in lb.zone_addresses or []}
    extra: list[list[str | None]] = []
    for zone in zones[1:]:
        _zone, address, public = known.get(str(zone)) or [zone, None, None]
        extra.append([zone, pools.keep(address), pools.keep_public(public, internal)])
    if extra != (lb.zone_addresses or []):
        lb.zone_addresses = extra
    places = [(lb.address, lb.public_address), *((str(e[1]), e[2]) for e in extra)]
    mac_prefix = network_config.current().mac_prefix if conf.get("uplink_bridge") else None
    return [Node(node_id, zone, public, {
        "address": f"{address}/{prefix}", "uplink_netns": str(conf["uplink_netns"]),
        "uplink_bridge": str(conf["uplink_bridge"]), "gateway": conf.get("gateway"),
        "mac": uplink_mac(mac_prefix, address) if mac_prefix else None})
        for node_id, zone, (address, public) in zip(
            node_ids(lb.lb_id, len(zones)), zones, places, strict=True)]


@dataclass(frozen=True)
class Node:
    """One haproxy of a load balancer: its id (the load balancer's, ``<id>z<n>`` for the
    zones after the first), its zone (None: every instance), public address, uplink."""

    node_id: str
    zone: str | None
    public_ip: str | None
    uplink: dict[str, Any]


def node_backends(instances: list[str], facts: dict[str, Any],
                  zone: str | None) -> tuple[Backend, ...]:
    """The running registered instances a node sends to: those of its zone, or every
    one (``zone`` None: cross-zone)."""
    return tuple(Backend(i, str(facts[i].private_ip)) for i in instances
                 if i in facts and facts[i].state == "running" and facts[i].private_ip
                 and (zone is None or facts[i].zone == zone))


def node_ids(lb_id: str, count: int) -> list[str]:
    return [lb_id] + [f"{lb_id}z{n}" for n in range(1, count)]


async def vpc_nodes(session: AsyncSession, conf: dict[str, Any],
                    lb: ElbLoadBalancer) -> list[Node]:
    """The haproxy nodes of a load balancer in subnets, each on one of its interfaces
    (the ENIs EC2 keeps, realised by the VPC host agent on the gateway host), plugged
    into that ENI's guest bridge in the VPC agent's namespace (``vpc_netns``, else
    ``uplink_netns``) with the ENI's MAC and address, the subnet's router as gateway and
    a port name (``tl<node id>``) a host's EDGE firewall leaves to the VPC routers:
    one a subnet (zone), as AWS runs a load balancer node in each of its zones, serving
    that zone's instances when cross-zone load balancing is off, every zone's when it is
    on. [] outside a VPC."""
    from cloudctl.services.elb import vpc

    found = {i.subnet_id: i for i in await vpc.interfaces(session, lb)}
    enis = [found[s] for s in lb.subnets if s in found and found[s].private_ip
            and found[s].cidr]
    if not enis or enis[0].subnet_id != (lb.subnets or [""])[0]:
        return []
    cross = bool((lb.attributes.get("CrossZoneLoadBalancing") or {}).get("Enabled"))
    out = []
    for node_id, eni in zip(node_ids(lb.lb_id, len(enis)), enis, strict=True):
        net = ipaddress.IPv4Network(eni.cidr, strict=False)
        out.append(Node(node_id, None if cross else eni.zone, eni.public_ip, {
            "address": f"{eni.private_ip}/{net.prefixlen}",
            "uplink_netns": str(conf.get("vpc_netns") or conf.get("uplink_netns")),
            "uplink_bridge": guest_bridge_name(eni.eni_id),
            "gateway": str(net.network_address + 1), "mac": eni.mac,
            "uplink_port": lb_port_name(node_id)}))
    return out


class DataPlaneController(Reconciler):
    name = "elb-dataplane"

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.sampler = Sampler()
        self._sampled = 0.0
        self._emitted: dict[str, int] = {}
        self._ports: list[tuple[str, str]] | None = None
        # the configurations whose planes ran here (by state directory): cleared, the
        # property leaves no load balancer running in them
        self._planes: dict[str, dict[str, Any]] = {}

    def interval(self) -> float:
        return float(self.cloud.properties.get(props.SUPERVISE_INTERVAL))

    async def list_keys(self) -> list[str]:
        if settings(self.cloud):
            return ["all", "metrics", "accesslogs"]
        return ["all"] if self._planes else []

    async def sync(self, key: str) -> None:
        conf = settings(self.cloud)
        if not conf:
            if key == "all":
                await self._retire()
            return
        root = str(plane_of(self.cloud, conf).root)
        if key == "all":
            await self._retire(keep=root)  # a changed state_dir: the old plane goes
        self._planes[root] = conf
        if key == "metrics":
            await self._metrics(conf)
            return
        if key == "accesslogs":
            await self._access_logs(conf)
            return
        specs, records = await desired_specs(self.cloud, conf)
        await self._view_changed(conf, specs)
        plane = plane_of(self.cloud, conf)
        await asyncio.to_thread(plane.reconcile, specs)
        await asyncio.to_thread(self._dns, plane.root.parent, records)

    async def _retire(self, keep: str | None = None) -> None:
        """The data plane configuration was cleared (or moved to another state
        directory, ``keep``): every load balancer of the other planes that ran here
        stops (haproxy, its namespace and state), as none is wanted there."""
        for root, conf in list(self._planes.items()):
            if root == keep:
                continue
            await asyncio.to_thread(plane_of(self.cloud, conf).reconcile, [])
            await self._view_changed(conf, [])
            del self._planes[root]

    async def _view_changed(self, conf: dict[str, Any], specs: list[LbSpec]) -> None:
        """A new network view version when the ports ELB feeds it changed (an address
        allocated, a load balancer deleted), so netd re-renders the bridge rules."""
        from cloudctl.services.network.state import bump_version, notify

        ports = sorted((s.lb_id, s.address) for s in specs
                       if s.uplink_bridge == conf.get("uplink_bridge"))
        if ports == self._ports:
            return
        async with self.cloud.sessions() as session, session.begin():
            await bump_version(session)
        notify()
        self._ports = ports

    async def _metrics(self, conf: dict[str, Any]) -> None:
        from cloudctl.services.cloudwatch.api import publish

        now = time.monotonic()
        if now - self._sampled < float(self.cloud.properties.get(props.METRICS_INTERVAL)):
            return
        self._sampled = now
        plane = plane_of(self.cloud, conf)
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(
                ElbLoadBalancer.lb_id, ElbLoadBalancer.name, ElbLoadBalancer.account_id,
                ElbLoadBalancer.region))).all()
        for lb_id, name, account, region in rows:
            rows_of = [await asyncio.to_thread(plane.stats, node)
                       for node in await asyncio.to_thread(plane.nodes, lb_id)]
            if all(r is None for r in rows_of):
                continue
            stats = [row for rows in rows_of if rows for row in rows]
            data = self.sampler.sample(lb_id, name, stats)
            if data:
                await publish(self.cloud, account, region, data)

    async def _access_logs(self, conf: dict[str, Any]) -> None:
        from cloudctl.services.elb import access_logs
        from cloudctl.services.s3.api import deliver_object

        plane = plane_of(self.cloud, conf)
        override = int(self.cloud.properties.get(props.ACCESS_LOG_SECONDS))
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(ElbLoadBalancer))).scalars().all()
        for lb in rows:
            log_conf = lb.attributes.get("AccessLog") or {}
            if not log_conf.get("Enabled"):
                continue
            end = access_logs.interval_end(time.time(), int(log_conf.get("EmitInterval")
                                                               or 60), override)
            if self._emitted.setdefault(lb.lb_id, end) >= end:
                continue
            self._emitted[lb.lb_id] = end
            files = [f for node in await asyncio.to_thread(plane.nodes, lb.lb_id)
                     for f in await asyncio.to_thread(plane.access_logs, node)]
            lines = []
            for path in files:
                for raw in path.read_text(errors="replace").splitlines():
                    line = access_logs.convert(raw, lb.name)
                    if line is not None:
                        lines.append(line)
            if lines:
                stamp = datetime.fromtimestamp(end, UTC)
                key = access_logs.object_key(str(log_conf.get("S3BucketPrefix") or ""),
                                             lb.account_id, lb.region, lb.name, stamp,
                                             str(lb.address))
                await deliver_object(self.cloud, str(log_conf["S3BucketName"]), key,
                                     ("\n".join(lines) + "\n").encode(), "text/plain",
                                     [access_logs.DELIVERY_PRINCIPAL])
            for path in files:
                path.unlink(missing_ok=True)

    def _dns(self, state_dir: Path, records: dict[str, list[str]]) -> None:
        ns = str(self.cloud.properties.get(props.DNS_NETNS) or "")
        address = str(self.cloud.properties.get(props.DNS_LISTEN) or "")
        server = DnsServer(state_dir)
        if ns and address:
            server.apply(ns, address, records)
        else:
            server.stop()


class PlaneHealth:
    """The ``HealthSource`` of one API worker: haproxy's checks, read through netd."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._planes: dict[str, LbPlane] = {}

    def backends(self, lb_id: str) -> dict[str, BackendHealth] | None:
        conf = settings(self.cloud)
        if not conf:
            return None
        key = str(conf.get("state_dir") or "")
        plane = self._planes.get(key)
        if plane is None:
            plane = self._planes[key] = plane_of(self.cloud, conf)
        merged: dict[str, BackendHealth] | None = None
        for node in plane.nodes(lb_id):  # one a zone: each checks its zone's instances
            found = plane.health(node)
            if found is not None:
                merged = merged or {}
                merged.update({k: BackendHealth(v.up, v.ever_up) for k, v in found.items()})
        return merged


def wake(cloud: Cloud) -> None:
    controller = cloud.runtime.get(CONTROLLER)
    if controller is not None:
        controller.wake("all")
