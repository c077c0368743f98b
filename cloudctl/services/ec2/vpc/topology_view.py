"""The desired VPC topology of the whole cloud, read from the database in one snapshot.

Builds the typed objects of ``netd.vpc.topology`` (the ZooKeeper contract owned by the
data plane) from the VPC tables: VPCs with their VNI and CIDRs, subnets with their
effective route table (explicit association, else the main one) and ACL, route tables
(an instance target resolved to its primary interface), internet gateways with the
public mappings of their VPC, live NAT gateways (both on the gateway host,
``cloud.network.vpc_gateway_host``, else the first node by name), ACL entries without the implicit
rule, the security groups interfaces use, interfaces placed on their instance's host
(a service's own interfaces, a load balancer's, on the gateway host), and active
peerings.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.compute.nodes import Node
from cloudctl.services.ec2.vpc import common
from cloudctl.services.ec2.vpc.build import IMPLICIT_RULE
from cloudctl.services.ec2.vpc.models import (
    DhcpOptionsRow,
    InternetGatewayRow,
    NatGatewayRow,
    NetworkAclAssociationRow,
    NetworkAclEntryRow,
    NetworkAclRow,
    NetworkInterfaceRow,
    PeeringRow,
    PrivateIpRow,
    RouteRow,
    RouteTableAssociationRow,
    RouteTableRow,
    SubnetRow,
    VpcAddressRow,
    VpcCidrRow,
    VpcRow,
)
from cloudctl.services.network.models import AddressRow, SecurityGroupRuleRow
from cloudctl.services.network.rules import protocol_number
from netd.vpc import topology as topo

_KINDS = {"local": topo.TARGET_LOCAL, "gateway": topo.TARGET_IGW, "nat": topo.TARGET_NAT,
          "eni": topo.TARGET_ENI, "instance": topo.TARGET_INSTANCE, "pcx": topo.TARGET_PCX}


async def _all(session: AsyncSession, model: Any) -> list[Any]:
    return list((await session.execute(select(model))).scalars())


def _dhcp(row: DhcpOptionsRow) -> topo.DhcpOptions:
    values = {c["Key"]: list(c["Values"]) for c in row.configuration}
    return topo.DhcpOptions(
        id=row.dhcp_options_id,
        domain_name=(values.get("domain-name") or [None])[0],
        domain_name_servers=tuple(values.get("domain-name-servers") or ["AmazonProvidedDNS"]),
        ntp_servers=tuple(values.get("ntp-servers") or ()))


def _acl_entry(e: NetworkAclEntryRow) -> topo.AclEntry:
    return topo.AclEntry(number=e.rule_number, action=e.action, protocol=int(e.protocol),
                         cidr=e.cidr, from_port=e.from_port, to_port=e.to_port,
                         icmp_type=e.icmp_type, icmp_code=e.icmp_code)


async def gateway_host(session: AsyncSession, configured: str = "") -> str:
    """The host realising internet and NAT gateways: the configured one, else the
    first node by name ("" when there is no node)."""
    if configured:
        return configured
    first = (await session.execute(select(Node.name).order_by(Node.name).limit(1))).scalar()
    return str(first or "")


async def snapshot(session: AsyncSession, gateway: str = "") -> tuple[int, topo.Topology]:
    """(database topology version, the topology it describes); ``gateway`` is the
    configured gateway host (``cloud.network.vpc_gateway_host``)."""
    version = await common.version(session)
    gw_host = await gateway_host(session, gateway)
    out = topo.Topology(version=version)
    for d in await _all(session, DhcpOptionsRow):
        out.put(_dhcp(d))
    cidrs: dict[str, list[str]] = defaultdict(list)
    for c in (await session.execute(select(VpcCidrRow).order_by(
            VpcCidrRow.primary.desc(), VpcCidrRow.cidr))).scalars():
        cidrs[c.vpc_id].append(c.cidr)
    for v in await _all(session, VpcRow):
        out.put(topo.Vpc(id=v.vpc_id, vni=v.vni, cidrs=tuple(cidrs[v.vpc_id]),
                         account_id=v.account_id,
                         dhcp_options_id=None if v.dhcp_options_id == "default"
                         else v.dhcp_options_id,
                         enable_dns_support=v.dns_support,
                         enable_dns_hostnames=v.dns_hostnames))
    main = {t.vpc_id: t.route_table_id for t in await _all(session, RouteTableRow) if t.main}
    explicit = {a.subnet_id: a.route_table_id
                for a in await _all(session, RouteTableAssociationRow) if a.subnet_id}
    acl_of = {a.subnet_id: a.acl_id for a in await _all(session, NetworkAclAssociationRow)}
    for s in await _all(session, SubnetRow):
        out.put(topo.Subnet(id=s.subnet_id, vpc_id=s.vpc_id, cidr=s.cidr, zone=s.zone,
                            route_table_id=explicit.get(s.subnet_id, main.get(s.vpc_id)),
                            network_acl_id=acl_of.get(s.subnet_id)))
    enis = await _all(session, NetworkInterfaceRow)
    primary_eni = {e.instance_id: e.eni_id for e in enis
                   if e.instance_id and e.device_index == 0}
    routes: dict[str, list[topo.Route]] = defaultdict(list)
    for r in (await session.execute(select(RouteRow).order_by(
            RouteRow.route_table_id, RouteRow.destination))).scalars():
        target = None if r.target_kind == "local" else r.target_id
        if r.target_kind == "instance":
            target = primary_eni.get(r.target_id)
        routes[r.route_table_id].append(topo.Route(destination=r.destination,
                                                   target_kind=_KINDS[r.target_kind],
                                                   target_id=target))
    for t in await _all(session, RouteTableRow):
        out.put(topo.RouteTable(id=t.route_table_id, vpc_id=t.vpc_id,
                                routes=tuple(routes[t.route_table_id])))
    addresses: dict[str, list[PrivateIpRow]] = defaultdict(list)
    for a in (await session.execute(select(PrivateIpRow).order_by(
            PrivateIpRow.eni_id, PrivateIpRow.primary.desc(),
            PrivateIpRow.private_ip))).scalars():
        addresses[a.eni_id].append(a)
    eni_vpc = {e.eni_id: e.vpc_id for e in enis}
    nat_enis = {e.eni_id for e in enis if e.interface_type == "nat_gateway"}
    mappings: dict[str, list[topo.PublicMapping]] = defaultdict(list)
    for assoc, public_ip in await session.execute(select(VpcAddressRow, AddressRow.public_ip)
                                                  .join(AddressRow, AddressRow.allocation_id
                                                        == VpcAddressRow.allocation_id)):
        if assoc.eni_id in eni_vpc and assoc.eni_id not in nat_enis:
            mappings[eni_vpc[assoc.eni_id]].append(topo.PublicMapping(
                public_ip=public_ip, private_ip=assoc.private_ip, eni_id=assoc.eni_id))
    primary_ip = {e: rows[0].private_ip for e, rows in addresses.items() if rows}
    launched = {i: e for i, e in primary_eni.items() if i}
    if launched:  # public addresses given at launch (MapPublicIpOnLaunch)
        for public_ip, instance_id in await session.execute(select(
                AddressRow.public_ip, AddressRow.instance_id).where(
                AddressRow.instance_id.in_(list(launched)))):
            eni_id = launched[instance_id]
            if eni_id in primary_ip:
                mappings[eni_vpc[eni_id]].append(topo.PublicMapping(
                    public_ip=public_ip, private_ip=primary_ip[eni_id], eni_id=eni_id))
    for g in await _all(session, InternetGatewayRow):
        out.put(topo.InternetGateway(id=g.igw_id, vpc_id=g.vpc_id,
                                     mappings=tuple(mappings[g.vpc_id]) if g.vpc_id else (),
                                     host=gw_host))
    macs = {e.eni_id: e.mac for e in enis}
    for n in await _all(session, NatGatewayRow):
        if n.state in ("pending", "available"):
            out.put(topo.NatGateway(id=n.nat_id, vpc_id=n.vpc_id, subnet_id=n.subnet_id,
                                    private_ip=n.private_ip or "", public_ip=n.public_ip,
                                    mac=macs.get(n.eni_id or "", ""), host=gw_host))
    entries: dict[tuple[str, bool], list[topo.AclEntry]] = defaultdict(list)
    for e in (await session.execute(select(NetworkAclEntryRow).order_by(
            NetworkAclEntryRow.acl_id, NetworkAclEntryRow.rule_number))).scalars():
        if e.rule_number != IMPLICIT_RULE:
            entries[(e.acl_id, e.egress)].append(_acl_entry(e))
    for acl in await _all(session, NetworkAclRow):
        out.put(topo.NetworkAcl(id=acl.acl_id, vpc_id=acl.vpc_id,
                                ingress=tuple(entries[(acl.acl_id, False)]),
                                egress=tuple(entries[(acl.acl_id, True)])))
    await _groups(session, out, enis)
    hosts = {i: n for i, n in (await session.execute(select(
        Instance.instance_id, Instance.node).where(Instance.instance_id.in_(
            [e.instance_id for e in enis if e.instance_id]))))} if enis else {}
    for e in enis:
        if e.interface_type == "nat_gateway":
            continue
        out.put(topo.Eni(id=e.eni_id, vpc_id=e.vpc_id, subnet_id=e.subnet_id, mac=e.mac,
                         private_ips=tuple(a.private_ip for a in addresses[e.eni_id]),
                         group_ids=tuple(e.groups), source_dest_check=e.source_dest_check,
                         host=(hosts.get(e.instance_id) if e.instance_id
                               else gw_host if _service_placed(e) else None),
                         instance_id=e.instance_id, device_index=e.device_index or 0))
    for p in await _all(session, PeeringRow):
        if p.status == "active":
            out.put(topo.Peering(id=p.pcx_id, requester_vpc_id=p.requester_vpc,
                                 accepter_vpc_id=p.accepter_vpc, active=True))
    return version, out


def _service_placed(e: NetworkInterfaceRow) -> bool:
    """A service's interface (a load balancer's: requester-managed, no instance): the
    gateway host realises it, where the service runs its end."""
    return bool(e.requester_managed) and not e.instance_id and e.interface_type == "interface"


async def _groups(session: AsyncSession, out: topo.Topology,
                  enis: list[NetworkInterfaceRow]) -> None:
    """The security groups the interfaces use, with their rules."""
    used: dict[str, str] = {}
    for e in enis:
        for g in e.groups:
            used.setdefault(g, e.vpc_id)
    if not used:
        return
    rules: dict[tuple[str, bool], list[topo.SgRule]] = defaultdict(list)
    for r in (await session.execute(select(SecurityGroupRuleRow).where(
            SecurityGroupRuleRow.group_id.in_(list(used))))).scalars():
        proto = protocol_number(r.protocol)
        icmp = proto == topo.PROTO_ICMP
        rules[(r.group_id, r.egress)].append(topo.SgRule(
            protocol=proto,
            from_port=None if icmp else r.from_port, to_port=None if icmp else r.to_port,
            icmp_type=r.from_port if icmp and r.from_port not in (None, -1) else None,
            icmp_code=r.to_port if icmp and r.to_port not in (None, -1) else None,
            cidrs=(r.cidr,) if r.cidr else (),
            groups=(r.peer_group_id,) if r.peer_group_id else ()))
    for gid, vpc_id in used.items():
        out.put(topo.SecurityGroup(id=gid, vpc_id=vpc_id, ingress=tuple(rules[(gid, False)]),
                                   egress=tuple(rules[(gid, True)])))
