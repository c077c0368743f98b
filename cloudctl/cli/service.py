"""``cloudctl service list|disable|enable``: the cloud's services, hosts and leaders.

``list`` prints DescribeServices (Empyrean) as a table: every API service, every cloud
host (ENABLED, DISABLED, NOTREADY) and every controller kind per host (ENABLED where
that host leads it, with the term's epoch); ``--output json`` gives the rows.
``disable HOST`` (ModifyService DISABLE) drains a host for maintenance: it gives up
every leadership and its API answers 503 until ``enable HOST``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cloudctl.cli.adminclient import admin_client
from cloudctl.config import Settings

COLUMNS = ("type", "name", "state", "epoch", "uri", "details")


def rows(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": s["ServiceId"]["Type"], "name": s["ServiceId"]["Name"],
             "state": s["LocalState"], "epoch": int(s.get("LocalEpoch") or 0),
             "uri": s["ServiceId"].get("Uri", ""), "details": "; ".join(s.get("Details") or [])}
            for s in statuses]


def table(data: list[dict[str, Any]]) -> str:
    widths = {c: max([len(c)] + [len(str(r[c])) for r in data]) for c in COLUMNS[:-1]}
    lines = ["  ".join(c.upper().ljust(widths.get(c, 0)) for c in COLUMNS).rstrip()]
    for row in data:
        lines.append("  ".join(str(row[c]).ljust(widths.get(c, 0)) for c in COLUMNS).rstrip())
    return "\n".join(lines)


def run_service(args: argparse.Namespace, settings: Settings) -> int:
    client = admin_client(settings, "empyrean", args.endpoint)
    if args.service_command in ("disable", "enable"):
        client.modify_service(Name=args.host, State=args.service_command.upper())
        if args.output == "json":
            print(json.dumps({"host": args.host, "state": args.service_command.upper() + "D"}))
        else:
            print(f"host {args.host} {args.service_command}d")
        return 0
    data = rows(client.describe_services(ListAll=True).get("ServiceStatuses", []))
    if args.output == "json":
        print(json.dumps(data, indent=2))
    else:
        print(table(data))
    return 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "service", help="services, cloud hosts and controller leaders (Empyrean)")
    p.add_argument("service_command", choices=("list", "disable", "enable"))
    p.add_argument("host", nargs="?", help="the cloud host (disable, enable)")
    return p
