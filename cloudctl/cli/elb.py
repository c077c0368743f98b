"""`cloudctl elb show`: every load balancer of the cloud and its data plane.

Reads the cloud's database directly (like `cloudctl network show`) and, on the host
that runs the data plane, asks each haproxy (netd's `LbPlane`: its pid file and
runtime API) whether it runs and what its health checks say of each instance.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cloudctl.config import Settings


async def elb_summary(settings: Settings) -> dict[str, Any]:
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.properties.models import PropertyValue
    from cloudctl.services.elb.models import ElbLoadBalancer
    from cloudctl.services.elb.properties import DATAPLANE
    from netd.lb import LbPlane

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            stored = await session.get(PropertyValue, DATAPLANE.name)
            conf = json.loads(stored.value) if stored is not None else {}
            rows = (await session.execute(select(ElbLoadBalancer).order_by(
                ElbLoadBalancer.account_id, ElbLoadBalancer.name))).scalars().all()
    finally:
        await engine.dispose()
    plane = None
    if conf:
        plane = LbPlane(Path(conf.get("state_dir") or settings.run_dir / "netd-elb"))
    out = []
    for lb in rows:
        health: dict[str, Any] = {}
        nodes = plane.nodes(lb.lb_id) if plane is not None else []
        for node in nodes:  # one a zone when cross-zone load balancing is off
            health.update((plane.health(node) if plane is not None else None) or {})
        pid = plane.master(lb.lb_id) if plane is not None else None
        out.append({
            "name": lb.name, "id": lb.lb_id, "account": lb.account_id, "region": lb.region,
            "scheme": lb.scheme, "address": lb.address, "public_address": lb.public_address, "generation": lb.generation,
            "listeners": [f"{x['Protocol']}:{x['LoadBalancerPort']}->"
                          f"{x['InstanceProtocol']}:{x['InstancePort']}" for x in lb.listeners],
            "haproxy_pid": pid, "nodes": nodes, "zone_addresses": lb.zone_addresses or [],
            "instances": {i: (health[i].status if health and i in health else "no check")
                          for i in lb.instances}})
    return {"dataplane": conf or None, "load_balancers": out}


def render_text(s: dict[str, Any]) -> str:
    lines = ["data plane: " + (json.dumps(s["dataplane"]) if s["dataplane"] else "off")]
    if not s["load_balancers"]:
        lines.append("  no load balancers")
    for lb in s["load_balancers"]:
        running = f"haproxy {lb['haproxy_pid']}" if lb["haproxy_pid"] else "not running"
        lines.append(f"  {lb['name']} ({lb['id']}, account {lb['account']}, {lb['region']}) "
                     f"{lb['address'] or '-'} public {lb['public_address'] or '-'} {', '.join(lb['listeners'])}: {running}")
        for zone, address, public in lb.get("zone_addresses", []):
            lines.append(f"    zone {zone} node {address} public {public or '-'}")
        for iid, status in lb["instances"].items():
            lines.append(f"    {iid}: {status}")
    return "\n".join(lines)


def run_elb(settings: Settings, command: str) -> dict[str, Any]:
    if command != "show":
        raise ValueError(command)
    return asyncio.run(elb_summary(settings))
