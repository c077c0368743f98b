"""The network side of an instance's life (EDGE): what compute asks of the network area.

Owns the glue between the instance lifecycle and the public functions of
``cloudctl.services.network.nics``, ``cloudctl.services.ec2.network.addresses`` and
``cloudctl.services.ec2.network.security_groups`` (it never writes their tables itself):

- ``launch_nic`` at RunInstances (caller's transaction): a NIC (MAC from the EDGE
  ``MacPrefix``, private IP from the configured subnet), a public IP from the pool,
  and the binding to the node's netd host and tap (``nodectl.client.tap_name``,
  the ``<target dev>`` of the domain); returns the node's ``NicSpec``.
- ``release`` when the instance is terminated (after the domain is gone).
- ``network_ready`` before the controller starts a guest: waits until the host's
  netd applied a view version that holds the instance (the tap attaches to
  ``br-cloud``, the static DHCP lease and the metadata DNAT exist), with a timeout.
- ``decorate`` for DescribeInstances: current public IP (elastic IPs move it),
  ``NetworkInterfaces`` (MAC), group names, as EC2-classic shows them.
- ``local_node_netns``: the network namespace of the all-in-one node's private
  libvirtd (``CLOUDCTL_LOCAL_NODE_NETNS``, else the ``daemon.json`` beside its socket).

The netd host of a node is named like the node (the all-in-one node and host are
both ``local``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.services.ec2.compute.dns_names import DnsNames
from cloudctl.services.ec2.network import addresses, security_groups
from cloudctl.services.network import nics, state
from cloudctl.services.network.models import HostStatusRow, SecurityGroupRow
from nodectl.client import NicSpec, tap_name

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.services.ec2.compute.instance_models import Instance

READY_TIMEOUT = 15.0  # then the step backs off and retries (a pass waits for its steps)
_POLL = 0.1


class NetworkNotReady(RuntimeError):
    """The host's netd has not applied the instance's network yet (the step is retried)."""


@dataclass(frozen=True)
class LaunchedNic:
    spec: NicSpec
    mac: str
    private_ip: str
    public_ip: str | None


def host_for_node(node: str | None) -> str:
    """The netd host serving a node (named like the node)."""
    return node or ""


async def launch_nic(session: AsyncSession, account: str, region: str, instance_id: str,
                     node: str | None, private_ip: str | None = None) -> LaunchedNic:
    """Allocate, address and bind the instance's NIC (caller's transaction; notify after);
    ``private_ip`` is the address the caller asked for (``requested_private_ip``)."""
    nic = await nics.allocate_instance_nic(session, account, region, instance_id, private_ip)
    public = await addresses.assign_public_ip(session, instance_id, region)
    if node:
        await nics.bind_instance_nic(session, instance_id, host_for_node(node),
                                     tap_name(instance_id))
    return LaunchedNic(spec=NicSpec(mac=nic.mac, bridge=nic.bridge, private_ip=nic.private_ip),
                       mac=nic.mac, private_ip=nic.private_ip, public_ip=public)


async def release(session: AsyncSession, instance_id: str) -> None:
    """Give back the public IP, the group memberships and the NIC (idempotent)."""
    await addresses.release_instance_ip(session, instance_id)
    await security_groups.forget_instance(session, instance_id)
    await nics.release_instance_nic(session, instance_id)
    from cloudctl.services.iam.api import forget_instance_credentials as forget

    forget(instance_id)


def requested_private_ip(params: dict[str, Any], max_count: int) -> str | None:
    """The private address RunInstances asks for (``PrivateIpAddress``, or the first
    network interface's ``PrivateIpAddress`` / primary ``PrivateIpAddresses``), checked
    against the configured subnet; None when none is asked for.

    EC2 refuses both forms at once and an address for more than one instance
    (InvalidParameterCombination).
    """
    direct = params.get("PrivateIpAddress")
    interfaces = params.get("NetworkInterfaces") or []
    first: dict[str, Any] = interfaces[0] if interfaces else {}
    in_nic = first.get("PrivateIpAddress")
    if in_nic is None:
        in_nic = next((a.get("PrivateIpAddress") for a in first.get("PrivateIpAddresses") or []
                       if a.get("Primary") and a.get("PrivateIpAddress")), None)
    if direct is not None and interfaces:
        raise AwsError("Network interfaces and an instance-level private IP address should "
                       "not be specified on the same request",
                       code="InvalidParameterCombination")
    asked = direct if direct is not None else in_nic
    if asked is None:
        return None
    if max_count > 1:
        raise AwsError("Cannot specify a private IP address when launching more than one "
                       "instance (MaxCount must be 1)", code="InvalidParameterCombination")
    return nics.check_private_ip(asked)


def notify() -> None:
    """Wake this process's network controller (after a commit that changed the view)."""
    state.notify()


async def group_names(session: AsyncSession, group_ids: list[str]) -> list[str]:
    """The names of ``group_ids``, in order ('' for an unknown id)."""
    if not group_ids:
        return []
    rows = (await session.execute(select(SecurityGroupRow.id, SecurityGroupRow.name).where(
        SecurityGroupRow.id.in_(group_ids)))).all()
    names = {gid: name for gid, name in rows}
    return [names.get(g, "") for g in group_ids]


def _managed_host(cloud: Cloud, host: str) -> bool:
    """Whether a netd agent of this process converges ``host`` (it has a namespace)."""
    from cloudctl.services.network.service import CONTROLLER

    controller = cloud.runtime.get(CONTROLLER)
    if controller is None or not host:
        return False
    return any(h.name == host and h.netns for h in controller.hosts())


async def _applied(cloud: Cloud, host: str) -> tuple[int, int | None, str | None]:
    async with cloud.sessions() as session:
        version = await state.current_version(session)
        row = await session.get(HostStatusRow, host)
    if row is None:
        return version, None, None
    return version, row.applied_version, row.error


async def network_ready(cloud: Cloud, row: Instance, timeout: float = READY_TIMEOUT) -> None:
    """Return once the node's netd host applied a view holding ``row``'s NIC.

    No-op for nodes whose network no agent of this process converges (fake and remote
    nodes, or no namespace). Raises ``NetworkNotReady`` after ``timeout`` seconds.
    """
    host = host_for_node(row.node)
    if not _managed_host(cloud, host):
        return
    async with cloud.sessions() as session:
        found = (await nics.instance_nics(session, [row.instance_id])).get(row.instance_id)
        if found is not None and found.host != host:
            await nics.bind_instance_nic(session, row.instance_id, host,
                                         tap_name(row.instance_id))
            await session.commit()
    if found is None:
        return  # launched before instances had NICs: nothing to wait for
    notify()
    want, applied, error = await _applied(cloud, host)
    deadline = time.monotonic() + timeout
    while applied is None or applied < want:
        if time.monotonic() >= deadline:
            raise NetworkNotReady(f"host {host} has not applied network view {want} "
                                  f"(applied {applied}, {error or 'no error'})")
        await asyncio.sleep(_POLL)
        _, applied, error = await _applied(cloud, host)


def _interface(item: dict[str, Any], nic: nics.Nic, public: str | None,
               owner: str) -> dict[str, Any]:
    """The one interface of an EDGE instance, lean (DescribeInstances of thousands)."""
    out: dict[str, Any] = {
        "MacAddress": nic.mac, "PrivateIpAddress": nic.private_ip,
        "PrivateDnsName": item.get("PrivateDnsName", ""), "Status": "in-use",
        "OwnerId": owner, "Groups": item.get("SecurityGroups", []),
    }
    if public:
        out["Association"] = {"PublicIp": public, "PublicDnsName": item.get("PublicDnsName", ""),
                              "IpOwnerId": owner}
    return out


async def decorate(session: AsyncSession, reservations: list[dict[str, Any]],
                   names: DnsNames) -> None:
    """Fill in the network side of DescribeInstances/RunInstances answers (in place)."""
    items = [i for r in reservations for i in r["Instances"]]
    live = [i["InstanceId"] for i in items if i["State"]["Name"] != "terminated"]
    if not live:
        return
    found = await nics.instance_nics(session, live)
    public = await addresses.instance_public_ips(session, live)
    groups = await security_groups.instance_groups(session, live)
    owners = {i["InstanceId"]: r["OwnerId"] for r in reservations for i in r["Instances"]}
    for item in items:
        iid = item["InstanceId"]
        if iid not in found:
            continue
        nic = found[iid]
        item["PrivateIpAddress"] = nic.private_ip
        item["PrivateDnsName"] = names.private(nic.private_ip)
        pub = public.get(iid)
        if pub:
            item["PublicIpAddress"], item["PublicDnsName"] = pub, names.public(pub)
        else:
            item.pop("PublicIpAddress", None)
            item["PublicDnsName"] = ""
        if groups.get(iid):
            item["SecurityGroups"] = [{"GroupId": g.group_id, "GroupName": g.group_name}
                                      for g in groups[iid]]
        item["NetworkInterfaces"] = [_interface(item, nic, pub, owners.get(iid, ""))]


def local_node_netns(uri: str) -> str | None:
    """The network namespace the all-in-one node's guests live in, if known.

    ``CLOUDCTL_LOCAL_NODE_NETNS`` wins; else a ``qemu:///system?socket=<state>/run/
    libvirt/libvirt-sock`` URI of a ``nodectl.libvirtd.PrivateLibvirtd`` names its
    state dir, whose ``daemon.json`` records the namespace.
    """
    forced = os.environ.get("CLOUDCTL_LOCAL_NODE_NETNS")
    if forced is not None:
        return forced or None
    sockets = parse_qs(urlparse(uri).query).get("socket")
    if not sockets:
        return None
    record = Path(sockets[0]).parent.parent.parent / "daemon.json"
    try:
        netns = json.loads(record.read_text()).get("netns")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(netns, str) and netns and Path("/run/netns", netns).exists():
        return netns
    return None
