"""`cloudctl network show`: the network view summary and each host's applied version.

Reads the cloud's database directly (like `cloudctl db`): the view version,
the EDGE configuration in force, counts of groups, rules, NICs and
addresses, and per host the desired and applied view versions with the
last error.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from cloudctl.config import Settings


async def network_summary(settings: Settings) -> dict[str, Any]:
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.properties.models import PropertyValue
    from cloudctl.services.ec2.vpc.admin import vpc_summary
    from cloudctl.services.ec2.vpc.local_zookeeper import running as running_local
    from cloudctl.services.ec2.vpc.properties import ZOOKEEPER
    from cloudctl.services.network import config
    from cloudctl.services.network.models import (
        AddressRow,
        HostStatusRow,
        InstanceNicRow,
        SecurityGroupRow,
        SecurityGroupRuleRow,
    )
    from cloudctl.services.network.state import current_version

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            version = await current_version(session)
            stored = await session.get(PropertyValue, config.NETWORK_CONFIGURATION.name)
            value = json.loads(stored.value) if stored is not None else config.DEFAULT_CONFIG
            cfg = config.edge_config(value)

            async def count(model: Any, *where: Any) -> int:
                return int((await session.execute(
                    select(func.count()).select_from(model).where(*where))).scalar() or 0)

            hosts = [{"host": h.host, "desired_version": h.desired_version,
                      "applied_version": h.applied_version,
                      "applied_at": h.applied_at.isoformat() if h.applied_at else None,
                      "in_sync": h.applied_version == version and h.error is None,
                      "error": h.error, "seconds": json.loads(h.seconds or "{}")}
                     for h in (await session.execute(
                         select(HostStatusRow).order_by(HostStatusRow.host))).scalars()]
            zk = await session.get(PropertyValue, ZOOKEEPER.name)
            mode = str(value.get("Mode", "EDGE")).upper()
            return {
                "version": version, "mode": "VPC" if mode in ("VPC", "VPCMIDO") else "EDGE",
                "subnets": [str(s.network) for s in cfg.subnets],
                "public_ips": len(cfg.public_ips),
                "public_ips_in_use": await count(AddressRow),
                "elastic_ips": await count(AddressRow, AddressRow.kind == "elastic"),
                "security_groups": await count(SecurityGroupRow),
                "rules": await count(SecurityGroupRuleRow),
                "instances": await count(InstanceNicRow, InstanceNicRow.host.is_not(None)),
                "hosts": hosts,
                "vpc": await vpc_summary(session, zk.value if zk is not None and zk.value
                                         else running_local(settings.data_dir) or ""),
            }
    finally:
        await engine.dispose()


def render_text(s: dict[str, Any]) -> str:
    lines = [f"network view version {s['version']} ({s['mode']})",
             f"  subnets {', '.join(s['subnets'])}; public pool {s['public_ips']} addresses, "
             f"{s['public_ips_in_use']} in use ({s['elastic_ips']} elastic)",
             f"  {s['security_groups']} security groups, {s['rules']} rules, "
             f"{s['instances']} placed instances"]
    if not s["hosts"]:
        lines.append("  no host has reported yet")
    for h in s["hosts"]:
        state = "in sync" if h["in_sync"] else f"behind ({h['error'] or 'pending'})"
        lines.append(f"  host {h['host']}: applied {h['applied_version']}, "
                     f"desired {h['desired_version']}: {state}")
    if "vpc" in s:
        from cloudctl.services.ec2.vpc.admin import render_vpc

        lines += render_vpc(s["vpc"])
    return "\n".join(lines)


def run_network(settings: Settings, command: str) -> dict[str, Any]:
    if command != "show":
        raise ValueError(command)
    return asyncio.run(network_summary(settings))
