"""``cloudctl node register|deregister|list``: the hypervisor nodes the scheduler uses.

An admin tool on the controller host: it edits the ``cloud_nodes`` table directly
(like ``euserv-register-service -t node``), then wakes the running cloud's node monitor
for the node (``cloudctl.core.wakes``, as the API's writes wake their controllers: a
datagram to the controller worker on SQLite, NOTIFY on PostgreSQL), which heartbeats it
at once and marks it healthy; a lost wake costs only time (the monitor's next resync).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from cloudctl.cli.adminclient import CliError
from cloudctl.config import Settings


async def _run(settings: Settings, args: argparse.Namespace) -> list[dict[str, Any]]:
    from cloudctl.core import wakes
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.ec2.compute import node_monitor
    from cloudctl.services.ec2.compute import nodes as nodes_mod

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        async with wakes.sending(engine, settings.database_url, settings.run_dir):
            async with sessions() as session, session.begin():
                if args.node_command == "register":
                    if not args.name or not args.address:
                        raise CliError("node register needs NAME and --address URL")
                    await nodes_mod.register_node(session, args.name, args.zone, args.address,
                                                  cores=args.cores, memory_mib=args.memory_mib)
                elif args.node_command == "deregister":
                    if not args.name:
                        raise CliError("node deregister needs NAME")
                    if not await nodes_mod.deregister_node(session, args.name):
                        raise CliError(f"no node named {args.name}")
                rows: list[dict[str, Any]] = [{
                    "name": n.name, "zone": n.zone, "address": n.address,
                    "cores": n.cores, "memory_mib": n.memory_mib, "state": n.state,
                    "last_heartbeat": n.last_heartbeat.isoformat() if n.last_heartbeat else None,
                    "last_error": n.last_error} for n in await nodes_mod.list_nodes(session)]
            if args.node_command != "list":  # committed: the monitor reads the new row
                node_monitor.wake(args.name)
            return rows
    finally:
        await engine.dispose()


def run_node(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(_run(settings, args))
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"NODE\t{r['name']}\t{r['zone']}\t{r['address']}\t{r['cores']} cores\t"
                  f"{r['memory_mib']} MiB\t{r['state']}\t{r['last_heartbeat'] or '-'}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("node", help="hypervisor nodes (register, deregister, list)")
    p.add_argument("node_command", choices=("register", "deregister", "list"))
    p.add_argument("name", nargs="?")
    p.add_argument("--zone", default="")
    p.add_argument("--address", default="", help="agent URL https://host:port")
    p.add_argument("--cores", type=int, default=0)
    p.add_argument("--memory-mib", type=int, default=0)
