"""Render the versioned `NetworkView`: the data plane's one picture of the network.

Owns the translation -> `netd.client.NetworkView`: the EDGE configuration in force,
the netd hosts, every bound instance NIC (this package's `nics`) with its private and
public address and its groups, and every security group with its rules (as netd
`Rule`s, one per peer). Groups, memberships and public addresses come from the feeds
the services registered (`feed`: EC2's today), never from their tables. Rows that no
longer fit the configuration (a NIC outside a changed subnet, an address no longer in
the pool) are left out rather than making the whole view invalid.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.network import nics
from cloudctl.services.network.config import HostEntry, edge_config
from cloudctl.services.network.feed import FeedRule, ViewFeed
from cloudctl.services.network.rules import protocol_number
from cloudctl.services.network.state import current_version
from netd.client import Host, Instance, Metadata, NetworkView, Rule, SecurityGroup, check_view

log = logging.getLogger(__name__)


def _rule(r: FeedRule, known: set[str]) -> Rule | None:
    proto = protocol_number(r.protocol)
    kw: dict[str, Any] = {"protocol": proto}
    if r.protocol in ("tcp", "udp"):
        kw.update(from_port=r.from_port, to_port=r.to_port)
    elif r.protocol == "icmp":
        kw.update(icmp_type=None if r.from_port in (None, -1) else r.from_port,
                  icmp_code=None if r.to_port in (None, -1) else r.to_port)
    if r.cidr is not None:
        return Rule(cidrs=(ipaddress.IPv4Network(r.cidr),), **kw)
    if r.peer_group_id in known:
        return Rule(groups=(str(r.peer_group_id),), **kw)
    return None


async def render_view(session: AsyncSession, config_value: Any, hosts: list[HostEntry],
                      feeds: Sequence[ViewFeed], metadata_upstream: str = "") -> NetworkView:
    """The view of version `net_state.version` as the NICs and the feeds describe it now."""
    version = await current_version(session)
    network = edge_config(config_value)
    view_hosts = tuple(Host(name=h.name, cluster=h.cluster,
                            underlay_ip=None if not h.underlay_ip
                            else ipaddress.IPv4Address(h.underlay_ip)) for h in hosts)
    host_names = {h.name for h in hosts}
    groups = [g for feed in feeds for g in await feed.groups(session)]
    known = {g.id for g in groups}
    rules: dict[str, tuple[list[Rule], list[Rule]]] = {g.id: ([], []) for g in groups}
    for g in groups:
        for r in g.rules:
            rule = _rule(r, known)
            if rule is not None:
                rules[g.id][1 if r.egress else 0].append(rule)
    sgs = tuple(SecurityGroup(id=g.id, owner=g.owner, ingress=tuple(rules[g.id][0]),
                              egress=tuple(rules[g.id][1])) for g in groups)
    members: dict[str, list[str]] = {}
    public: dict[str, str] = {}
    for feed in feeds:
        for instance_id, group_ids in (await feed.memberships(session)).items():
            members.setdefault(instance_id, []).extend(group_ids)
        public.update(await feed.public_ips(session))
    instances: list[Instance] = []
    for nic in await nics.bound_nics(session):
        if nic.host not in host_names or not nic.interface:
            continue
        pub = public.get(nic.instance_id)
        pub_ip = ipaddress.IPv4Address(pub) if pub else None
        if pub_ip is not None and not network.is_public(pub_ip):
            pub_ip = None
        inst = Instance(id=nic.instance_id, host=nic.host, mac=nic.mac,
                        private_ip=ipaddress.IPv4Address(nic.private_ip),
                        interface=nic.interface, public_ip=pub_ip,
                        security_groups=tuple(g for g in members.get(nic.instance_id, [])
                                              if g in known))
        instances.append(inst)
    for feed in feeds:
        for port in await feed.ports(session):
            host = port.host or (hosts[0].name if len(hosts) == 1 else None)
            if host is None or host not in host_names:
                continue
            instances.append(Instance(
                id=port.id, host=host, mac=port.mac,
                private_ip=ipaddress.IPv4Address(port.address), interface=port.interface,
                security_groups=tuple(g for g in port.groups if g in known)))
    view = NetworkView(version=version, network=network, hosts=view_hosts,
                       instances=tuple(instances), security_groups=sgs,
                       metadata=Metadata(upstream=metadata_upstream))
    problems = check_view(view)
    if problems:
        bad = {p.split("]", 1)[0].split("[", 1)[1] for p in problems if p.startswith("instances[")}
        log.warning("network view %d: leaving out instances %s: %s", version, sorted(bad),
                    "; ".join(problems))
        view = NetworkView(version=version, network=network, hosts=view_hosts,
                           instances=tuple(i for i in instances if i.id not in bad),
                           security_groups=sgs, metadata=view.metadata)
    return view
