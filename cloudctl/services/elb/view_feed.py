"""ELB's share of the network view: each load balancer's uplink port on the instance
bridge, and the security group that port is in.

A load balancer attached to an EDGE host's instance bridge (``loadbalancing.dataplane``
with ``uplink_bridge``, on the host named by ``host`` or the cloud's only one) is
reported as a port with its veth, the MAC it gives its ``eth0`` (the network's MAC prefix and its address, as an
instance NIC's) and its address, so
the bridge's anti-spoofing admits exactly that MAC and address from that port. The
port is in the load balancer's source security group (``default_elb_<id>``, the name
DescribeLoadBalancers gives as ``SourceSecurityGroup``): open on its listener ports,
all egress. Guests see the load balancer's own address as the source of its health
checks and proxied requests, so their groups admit it by address (or by the load
balancer address pool's CIDR).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.elb.common import SOURCE_GROUP_PREFIX
from cloudctl.services.elb.dataplane import settings
from cloudctl.services.elb.models import ElbLoadBalancer
from cloudctl.services.network.config import current
from cloudctl.services.network.feed import FeedGroup, FeedPort, FeedRule
from netd.lbspec import uplink_interface, uplink_mac

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def source_group_id(lb_id: str) -> str:
    """The id of a load balancer's source security group in the network view."""
    return SOURCE_GROUP_PREFIX + lb_id


class ElbViewFeed:
    """Load balancer ports and their source security groups."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def _attached(self, session: AsyncSession) -> list[ElbLoadBalancer]:
        if not settings(self.cloud).get("uplink_bridge"):
            return []
        rows = (await session.execute(select(ElbLoadBalancer).order_by(
            ElbLoadBalancer.lb_id))).scalars().all()
        return [lb for lb in rows if lb.address and not lb.subnets]  # VPC: on its ENI

    async def groups(self, session: AsyncSession) -> list[FeedGroup]:
        out = []
        for lb in await self._attached(session):
            ports = sorted({int(raw["LoadBalancerPort"]) for raw in lb.listeners})
            rules = [FeedRule(egress=False, protocol="tcp", from_port=p, to_port=p,
                              cidr="0.0.0.0/0", peer_group_id=None) for p in ports]
            rules.append(FeedRule(egress=True, protocol="-1", from_port=None, to_port=None,
                                  cidr="0.0.0.0/0", peer_group_id=None))
            out.append(FeedGroup(id=source_group_id(lb.lb_id), owner=lb.account_id,
                                 rules=tuple(rules)))
        return out

    async def memberships(self, session: AsyncSession) -> dict[str, list[str]]:
        return {}

    async def public_ips(self, session: AsyncSession) -> dict[str, str]:
        return {}

    async def ports(self, session: AsyncSession) -> list[FeedPort]:
        """A port for each haproxy node: the load balancer's, and with cross-zone load
        balancing off one for each further zone (``<id>z<n>``, ``zone_addresses``)."""
        host = settings(self.cloud).get("host")
        out = []
        for lb in await self._attached(session):
            nodes = [(lb.lb_id, str(lb.address))] + [
                (f"{lb.lb_id}z{n}", str(z[1]))
                for n, z in enumerate(lb.zone_addresses or [], start=1) if z[1]]
            out += [FeedPort(id=f"elb-{node}", interface=uplink_interface(node),
                             mac=uplink_mac(current().mac_prefix, address), address=address,
                             groups=(source_group_id(lb.lb_id),),
                             host=str(host) if host else None)
                    for node, address in nodes]
        return out
