"""Instance network interfaces: MAC and private IP from the EDGE configuration.

Public functions for the compute provider (they run in the caller's
transaction and never commit; each bumps the network view version):

- `allocate_instance_nic(session, account, region, instance_id, private_ip=None) -> Nic`
  at RunInstances: a free private IP of the configured subnet (or PrivateIps), or the
  one the caller asked for (`check_private_ip` first: in range, else
  InvalidParameterValue; taken: InvalidIPAddress.InUse), and a MAC
  `<MacPrefix>:<4 octets of the private IP>`.
- `bind_instance_nic(session, instance_id, host, interface)` once placed:
  the netd host name (all-in-one: `"local"`) and the tap name on `br-cloud`.
- `release_instance_nic(session, instance_id)` at termination.
- `instance_nics(session, instance_ids) -> dict[str, Nic]` for DescribeInstances.
- `bound_nics(session) -> list[Nic]` for the network view (`render`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services.network import config
from cloudctl.services.network.models import InstanceNicRow
from cloudctl.services.network.state import bump_version

BRIDGE = "br-cloud"


@dataclass(frozen=True)
class Nic:
    instance_id: str
    mac: str
    private_ip: str
    bridge: str = BRIDGE
    host: str | None = None
    interface: str | None = None


def _nic(row: InstanceNicRow) -> Nic:
    return Nic(instance_id=row.instance_id, mac=row.mac, private_ip=row.private_ip,
               host=row.host, interface=row.interface)


def _pool() -> tuple[tuple[ipaddress.IPv4Address, ...], ipaddress.IPv4Network,
                     set[ipaddress.IPv4Address]]:
    """The configured private addresses (empty: the whole subnet), the subnet and the
    addresses of the subnet no instance may have (network, gateway, broadcast)."""
    cfg = config.current()
    subnet = cfg.subnet_for_cluster(None) if not cfg.clusters else cfg.clusters[0].subnet
    listed = cfg.private_ips or (cfg.clusters[0].private_ips if cfg.clusters else ())
    reserved = {subnet.gateway, subnet.network.network_address,
                subnet.network.broadcast_address}
    return listed, subnet.network, reserved


def _candidates() -> Iterator[ipaddress.IPv4Address]:
    """Private addresses in allocation order, lazily (a /16 holds 65,533 of them)."""
    listed, network, reserved = _pool()
    if listed:
        return iter(listed)
    return (ip for ip in network.hosts() if ip not in reserved)


def check_private_ip(value: object) -> str:
    """``value`` (a private address a caller asked for) when instances may have it, as
    EC2 answers otherwise: InvalidParameterValue for a malformed address, one outside
    the subnet (or the configured PrivateIps) or one the subnet reserves."""
    text = str(value)
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        raise AwsError(f"Value ({text}) for parameter privateIpAddress is invalid. "
                       f"{text} is not a valid IPv4 address.",
                       code="InvalidParameterValue") from None
    listed, network, reserved = _pool()
    if ip not in network or (listed and ip not in listed):
        raise AwsError(f"Address {ip} does not fall within the subnet's address range",
                       code="InvalidParameterValue")
    if ip in reserved:
        raise AwsError(f"Address {ip} is in subnet's reserved address range",
                       code="InvalidParameterValue")
    return str(ip)


async def allocate_instance_nic(session: AsyncSession, account: str, region: str,
                                instance_id: str, private_ip: str | None = None) -> Nic:
    """Allocate (or return the existing) NIC of `instance_id`, with `private_ip` when
    given (checked by `check_private_ip`; InvalidIPAddress.InUse when taken); raises
    InsufficientFreeAddressesInSubnet when the private range is exhausted."""
    row = await session.get(InstanceNicRow, instance_id)
    if row is not None:
        return _nic(row)
    if private_ip is not None:
        ip = ipaddress.IPv4Address(check_private_ip(private_ip))
        taken = (await session.execute(select(InstanceNicRow.instance_id).where(
            InstanceNicRow.private_ip == str(ip)))).scalar()
        if taken is not None:
            raise AwsError(f"Address {ip} is in use.", code="InvalidIPAddress.InUse")
    else:
        used = set((await session.execute(select(InstanceNicRow.private_ip))).scalars())
        for ip in _candidates():
            if str(ip) not in used:
                break
        else:
            raise AwsError("There are not enough free addresses in the private subnet.",
                           code="InsufficientFreeAddressesInSubnet")
    octets = ":".join(f"{b:02x}" for b in ip.packed)
    prefix = config.current().mac_prefix
    row = InstanceNicRow(instance_id=instance_id, account_id=account, region=region,
                         mac=f"{prefix}:{octets}", private_ip=str(ip))
    session.add(row)
    await bump_version(session)
    await session.flush()
    return _nic(row)


async def bind_instance_nic(session: AsyncSession, instance_id: str, host: str,
                            interface: str) -> None:
    """Record where the NIC is plugged: netd host name and tap name (<= 15 chars)."""
    row = await session.get(InstanceNicRow, instance_id)
    if row is None:
        raise KeyError(f"no NIC allocated for {instance_id}")
    if (row.host, row.interface) != (host, interface):
        row.host, row.interface = host, interface
        await bump_version(session)


async def release_instance_nic(session: AsyncSession, instance_id: str) -> None:
    """Forget the NIC (idempotent)."""
    result = await session.execute(
        delete(InstanceNicRow).where(InstanceNicRow.instance_id == instance_id))
    if getattr(result, "rowcount", 1):
        await bump_version(session)


async def instance_nics(session: AsyncSession, instance_ids: list[str]) -> dict[str, Nic]:
    rows = (await session.execute(select(InstanceNicRow).where(
        InstanceNicRow.instance_id.in_(instance_ids)))).scalars()
    return {r.instance_id: _nic(r) for r in rows}


async def bound_nics(session: AsyncSession) -> list[Nic]:
    """Every NIC bound to a host, by instance id (the view's instances)."""
    rows = (await session.execute(select(InstanceNicRow).where(
        InstanceNicRow.host.is_not(None)).order_by(InstanceNicRow.instance_id))).scalars()
    return [_nic(r) for r in rows]
