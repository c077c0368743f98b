"""What services tell the network data plane: the feeds the view is rendered from.

The renderer (``render``) owns the NICs and the view version; everything else in the
view comes from the services that own it, through a ``ViewFeed`` each service
registers at install (``add_feed``): its security groups with their rules, the groups
each instance is in and the public address mapped to it. EC2 registers one
(``cloudctl.services.ec2.network.view_feed``); a load balancer service adds its own
beside it, with the ports its load balancers have on the instance bridges
(``ports``). The data plane reads no service's tables and imports no service.

A feed is called inside the renderer's read transaction (``session``) and returns
plain records; peers a rule names that no feed reports are left out of the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


@dataclass(frozen=True)
class FeedRule:
    """One rule of a group: a protocol ("tcp", "udp", "icmp", "-1"...), ports (ICMP:
    type and code, -1 or None for any) and exactly one peer (a CIDR or a group id)."""

    egress: bool
    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str | None
    peer_group_id: str | None


@dataclass(frozen=True)
class FeedGroup:
    """A security group, its owning account and its rules in the order they were made."""

    id: str
    owner: str
    rules: tuple[FeedRule, ...]


@dataclass(frozen=True)
class FeedPort:
    """A port on a host's instance bridge that is not an instance's NIC (a load
    balancer's uplink veth): its interface, the one MAC and address it may send from
    (the bridge's anti-spoofing admits nothing else) and its security groups, which
    police it as an instance's are and make its address a member of each group as a
    peer. ``host`` None: the cloud's only host (left out when there are several)."""

    id: str
    interface: str
    mac: str
    address: str
    groups: tuple[str, ...]
    host: str | None = None


class ViewFeed(Protocol):
    """A service's share of the network view."""

    async def groups(self, session: AsyncSession) -> list[FeedGroup]:
        """Every security group the service has."""
        ...

    async def memberships(self, session: AsyncSession) -> dict[str, list[str]]:
        """Instance id -> its group ids, in the order they were given."""
        ...

    async def public_ips(self, session: AsyncSession) -> dict[str, str]:
        """Instance id -> the public address mapped to it."""
        ...

    async def ports(self, session: AsyncSession) -> list[FeedPort]:
        """The service's own ports on instance bridges (none for EC2)."""
        ...


FEEDS = RuntimeKey[list[ViewFeed]]("network.feeds")


def add_feed(cloud: Cloud, feed: ViewFeed) -> None:
    """Register ``feed`` (from a service's install)."""
    cloud.runtime.setdefault(FEEDS, list).append(feed)


def feeds_of(cloud: Cloud) -> Sequence[ViewFeed]:
    """The feeds registered in ``cloud``, in registration order."""
    feeds = cloud.runtime.get(FEEDS)
    return tuple(feeds) if feeds is not None else ()
