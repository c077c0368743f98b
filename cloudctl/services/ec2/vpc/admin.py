"""What ``cloudctl network show`` prints of the VPCs: every VPC, the topology version in
the database and the one published, and from ZooKeeper its version and what each host
applied (``hosts/<host>`` status nodes)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.ec2.vpc.models import SubnetRow, VpcRow, VpcStateRow


def _zookeeper(connect: str) -> dict[str, Any]:
    from cloudctl.services.ec2.vpc.publisher import connect as zk_connect
    from netd.vpc import topology

    client = zk_connect(connect, timeout=5.0)
    try:
        reader = topology.TopologyReader(client)
        version = reader.version() if client.exists(topology.VERSION_PATH) else None
        hosts = [{"host": h.host, "version": h.version, "underlay": h.underlay,
                  "applied_at": h.applied_at, "error": h.error,
                  "in_sync": version is not None and h.version == version and not h.error}
                 for h in sorted(reader.hosts().values(), key=lambda h: h.host)]
        return {"zookeeper_version": version, "hosts": hosts}
    finally:
        client.stop()
        client.close()


async def vpc_summary(session: AsyncSession, connect: str) -> dict[str, Any]:
    state = await session.get(VpcStateRow, 1)
    counts = {r[0]: int(r[1]) for r in await session.execute(select(
        SubnetRow.vpc_id, func.count()).group_by(SubnetRow.vpc_id))}
    vpcs = [{"VpcId": v.vpc_id, "OwnerId": v.account_id, "Region": v.region,
             "CidrBlock": v.cidr, "IsDefault": v.is_default, "Vni": v.vni,
             "Subnets": counts.get(v.vpc_id, 0)}
            for v in (await session.execute(select(VpcRow).order_by(
                VpcRow.account_id, VpcRow.vpc_id))).scalars()]
    out: dict[str, Any] = {
        "vpcs": vpcs, "topology_version": state.version if state else 0,
        "published_version": state.published if state else 0, "zookeeper": connect or None,
        "zookeeper_version": None, "hosts": []}
    if connect:
        try:
            out.update(await asyncio.to_thread(_zookeeper, connect))
        except Exception as exc:  # shown, not raised: the admin view must still print
            out["zookeeper_error"] = f"{type(exc).__name__}: {exc}"
    return out


def render_vpc(s: dict[str, Any]) -> list[str]:
    lines = [f"VPC topology version {s['topology_version']} (published "
             f"{s['published_version']}); ZooKeeper "
             + (f"{s['zookeeper']} at version {s['zookeeper_version']}" if s["zookeeper"]
                else "not configured")]
    if s.get("zookeeper_error"):
        lines.append(f"  ZooKeeper unreachable: {s['zookeeper_error']}")
    for v in s["vpcs"]:
        default = " default" if v["IsDefault"] else ""
        lines.append(f"  {v['VpcId']} {v['CidrBlock']} account {v['OwnerId']}{default}, "
                     f"{v['Subnets']} subnets, vni {v['Vni']}")
    for h in s["hosts"]:
        state = "in sync" if h["in_sync"] else f"behind ({h['error'] or 'pending'})"
        lines.append(f"  host {h['host']}: applied {h['version']}: {state}")
    return lines
