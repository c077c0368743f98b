"""The network renderer is a data plane: the view's groups, memberships and public
addresses come from the feeds services register, the NICs from its own table; and
EC2's feed hands over what EC2's security group and address tables hold."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cloudctl.db.base import Base
from cloudctl.services.ec2.network.view_feed import Ec2ViewFeed
from cloudctl.services.network.config import DEFAULT_CONFIG, HostEntry
from cloudctl.services.network.feed import FeedGroup, FeedPort, FeedRule
from cloudctl.services.network.models import (
    AddressRow,
    InstanceGroupRow,
    InstanceNicRow,
    NetworkStateRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)
from cloudctl.services.network.render import render_view
from netd.client import Rule
from netd.lbspec import uplink_interface, uplink_mac
from netd.render import HostLayout, render

ACCOUNT = "000000000001"
HOSTS = [HostEntry(name="local", netns="")]


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    made = async_sessionmaker(engine, expire_on_commit=False)
    async with made() as session, session.begin():
        session.add_all([
            NetworkStateRow(id=1, version=7),
            InstanceNicRow(instance_id="i-00000001", mac="d0:0d:0a:6f:00:05",
                           private_ip="10.111.0.5", host="local", interface="vn-i00000001",
                           account_id=ACCOUNT, region="r"),
            InstanceNicRow(instance_id="i-00000002", mac="d0:0d:0a:6f:00:06",
                           private_ip="10.111.0.6", host=None, interface=None,
                           account_id=ACCOUNT, region="r"),
        ])
    yield made
    await engine.dispose()


class Feed:
    """A service's share as plain records (no table behind it)."""

    def __init__(self, groups: list[FeedGroup], members: dict[str, list[str]],
                 public: dict[str, str], ports: list[FeedPort] | None = None) -> None:
        self._groups, self._members, self._public = groups, members, public
        self._ports = ports or []

    async def groups(self, session: AsyncSession) -> list[FeedGroup]:
        return self._groups

    async def memberships(self, session: AsyncSession) -> dict[str, list[str]]:
        return self._members

    async def public_ips(self, session: AsyncSession) -> dict[str, str]:
        return self._public

    async def ports(self, session: AsyncSession) -> list[FeedPort]:
        return self._ports


def _rule(**kw: Any) -> FeedRule:
    base: dict[str, Any] = dict(egress=False, protocol="tcp", from_port=22, to_port=22,
                                cidr=None, peer_group_id=None)
    base.update(kw)
    return FeedRule(**base)


async def test_the_view_comes_from_the_feeds_and_the_bound_nics(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    web = FeedGroup(id="sg-00000001", owner=ACCOUNT, rules=(
        _rule(cidr="0.0.0.0/0"),
        _rule(peer_group_id="sg-00000002"),  # a peer the second feed reports
        _rule(peer_group_id="sg-0000dead"),  # a peer no feed reports: left out
        _rule(egress=True, protocol="-1", from_port=None, to_port=None, cidr="0.0.0.0/0")))
    other = FeedGroup(id="sg-00000002", owner="000000000002", rules=())
    feeds = [Feed([web], {"i-00000001": ["sg-00000001", "sg-0000dead"]},
                  {"i-00000001": "198.51.100.10"}),
             Feed([other], {"i-00000001": ["sg-00000002"]}, {})]
    async with sessions() as session:
        view = await render_view(session, DEFAULT_CONFIG, HOSTS, feeds, "unix:/md")
    assert view.version == 7
    assert [i.id for i in view.instances] == ["i-00000001"]  # the unbound NIC is not in it
    (inst,) = view.instances
    assert inst.public_ip == ipaddress.IPv4Address("198.51.100.10")
    assert inst.security_groups == ("sg-00000001", "sg-00000002")
    groups = {g.id: g for g in view.security_groups}
    assert set(groups) == {"sg-00000001", "sg-00000002"}
    assert groups["sg-00000002"].owner == "000000000002"
    assert groups["sg-00000001"].ingress == (
        Rule(protocol=6, from_port=22, to_port=22,
             cidrs=(ipaddress.IPv4Network("0.0.0.0/0"),)),
        Rule(protocol=6, from_port=22, to_port=22, groups=("sg-00000002",)))
    assert len(groups["sg-00000001"].egress) == 1
    assert view.metadata.upstream == "unix:/md"


async def test_without_feeds_instances_have_no_groups_and_no_public_address(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        view = await render_view(session, DEFAULT_CONFIG, HOSTS, [])
    (inst,) = view.instances
    assert inst.security_groups == () and inst.public_ip is None
    assert view.security_groups == ()


async def test_ec2_feed_reports_groups_rules_members_and_addresses(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        session.add_all([
            SecurityGroupRow(id="sg-00000001", name="web", description="d",
                             account_id=ACCOUNT, region="r"),
            SecurityGroupRow(id="sg-00000002", name="db", description="d",
                             account_id=ACCOUNT, region="r"),
            SecurityGroupRuleRow(id="sgr-2", group_id="sg-00000001", egress=True,
                                 protocol="-1", cidr="0.0.0.0/0"),
            SecurityGroupRuleRow(id="sgr-1", group_id="sg-00000001", protocol="tcp",
                                 from_port=80, to_port=80, peer_group_id="sg-00000002"),
            InstanceGroupRow(instance_id="i-00000001", group_id="sg-00000002", position=1),
            InstanceGroupRow(instance_id="i-00000001", group_id="sg-00000001", position=0),
            AddressRow(public_ip="198.51.100.10", region="r", kind="auto",
                       instance_id="i-00000001"),
            AddressRow(public_ip="198.51.100.11", region="r", kind="elastic",
                       account_id=ACCOUNT, allocation_id="eipalloc-00000001"),
        ])
    feed = Ec2ViewFeed()
    async with sessions() as session:
        groups = {g.id: g for g in await feed.groups(session)}
        members = await feed.memberships(session)
        public = await feed.public_ips(session)
        view = await render_view(session, DEFAULT_CONFIG, HOSTS, [feed])
    assert groups["sg-00000001"].owner == ACCOUNT
    assert groups["sg-00000001"].rules == (  # in the order the rules were made (their ids)
        _rule(from_port=80, to_port=80, peer_group_id="sg-00000002"),
        _rule(egress=True, protocol="-1", from_port=None, to_port=None, cidr="0.0.0.0/0"))
    assert groups["sg-00000002"].rules == ()
    assert members == {"i-00000001": ["sg-00000001", "sg-00000002"]}
    assert public == {"i-00000001": "198.51.100.10"}  # the unassociated elastic IP is not
    assert view.instances[0].security_groups == ("sg-00000001", "sg-00000002")


async def test_a_load_balancer_port_is_admitted_for_its_mac_and_address_only_and_is_a_peer(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """A port a feed reports (a load balancer's uplink veth) gets the anti-spoofing of an
    instance port (its MAC and address, nothing else), its group's chains, and its
    address in the set a guest's rule naming that group matches."""
    lb_group = FeedGroup(id="default_elb_abc", owner=ACCOUNT, rules=(
        _rule(from_port=80, to_port=80, cidr="0.0.0.0/0"),
        _rule(egress=True, protocol="-1", from_port=None, to_port=None, cidr="0.0.0.0/0")))
    web = FeedGroup(id="sg-00000001", owner=ACCOUNT, rules=(
        _rule(from_port=8080, to_port=8080, peer_group_id="default_elb_abc"),))
    port = FeedPort(id="elb-abc", interface=uplink_interface("abc"), mac=uplink_mac("d0:0d", "10.111.255.9"),
                    address="10.111.255.9", groups=("default_elb_abc", "sg-0000dead"))
    feeds = [Feed([web, lb_group], {"i-00000001": ["sg-00000001"]}, {}, [port])]
    async with sessions() as session:
        view = await render_view(session, DEFAULT_CONFIG, HOSTS, feeds)
    lb = next(i for i in view.instances if i.id == "elb-abc")
    assert (lb.host, lb.interface, lb.mac) == ("local", "lbabc", uplink_mac("d0:0d", "10.111.255.9"))
    assert lb.security_groups == ("default_elb_abc",)  # unknown groups left out
    cmds = render(view, HostLayout(host="local"))
    objs = [c["add"] for c in cmds if "add" in c]
    sets = {(o["set"]["family"], o["set"]["name"]): o["set"].get("elem", [])
            for o in objs if "set" in o}
    assert {"concat": ["lbabc", uplink_mac("d0:0d", "10.111.255.9")]} in sets[("bridge", "port_mac")]
    assert {"concat": ["lbabc", "10.111.255.9"]} in sets[("bridge", "port_ip")]
    assert not any(e["concat"][0] == "lbabc" and e["concat"][1] != "10.111.255.9"
                   for e in sets[("bridge", "port_ip")])
    assert sets[("inet", "sg-default_elb_abc")] == ["10.111.255.9"]
    maps = {o["map"]["name"]: o["map"].get("elem", []) for o in objs if "map" in o}
    assert ["10.111.255.9", {"jump": {"target": "sgi-default_elb_abc"}}] in maps["ingress"]
    assert ["10.111.255.9", {"jump": {"target": "sge-default_elb_abc"}}] in maps["egress"]
    # no blanket accept for the port in the bridge table
    bridge_rules = [o["rule"] for o in objs if "rule" in o and o["rule"]["family"] == "bridge"]
    assert not any("lbabc" in str(r["expr"]) for r in bridge_rules)
    # with two hosts and no host named, the port is in no host's view
    two = [*HOSTS, HostEntry(name="other", netns="x")]
    async with sessions() as session:
        view = await render_view(session, DEFAULT_CONFIG, two, feeds)
    assert [i.id for i in view.instances] == ["i-00000001"]
