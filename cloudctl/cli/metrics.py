"""``cloudctl metrics list|show``: CloudWatch metrics of a running cloud, in a terminal.

``list`` prints the metrics an account has (ListMetrics, filtered by namespace, name
and dimensions); ``show`` prints one metric's datapoints (GetMetricStatistics) as a
sparkline with its range, and the points, or all of it as JSON with ``--output
json``. Both talk to the API as any client would, as ``--account``/``--user``
(the cloud admin by default: metrics belong to the account that owns the instance).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudctl.cli.adminclient import CliError, botocore_session, user_key
from cloudctl.config import load_settings

__all__ = ["add_parser", "sparkline"]

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], low: float | None = None,
              high: float | None = None) -> str:
    """One character per value, ``▁`` (lowest) to ``█`` (highest); a gap is a space."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    lo = min(known) if low is None else low
    hi = max(known) if high is None else high
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif span <= 0:
            out.append(BARS[0] if hi == 0 else BARS[len(BARS) // 2])
        else:
            index = int((min(max(v, lo), hi) - lo) / span * (len(BARS) - 1) + 0.5)
            out.append(BARS[index])
    return "".join(out)


def _dimensions(items: list[str]) -> list[dict[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not name:
            raise CliError(f"--dimension wants NAME=VALUE (or NAME), got {item!r}")
        out.append({"Name": name, "Value": value} if sep else {"Name": name})
    return out


def _client(args: argparse.Namespace) -> Any:
    from botocore.config import Config

    key = user_key(load_settings(args.data_dir), args.account, args.user)
    return botocore_session().create_client(
        "cloudwatch", region_name=args.region, endpoint_url=args.endpoint,
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))


def _metric_text(m: dict[str, Any]) -> str:
    dims = ",".join(f"{d['Name']}={d['Value']}" for d in m.get("Dimensions", []))
    return f"METRIC\t{m['Namespace']}\t{m['MetricName']}\t{dims or '-'}"


def cmd_list(args: argparse.Namespace) -> int:
    cw = _client(args)
    query: dict[str, Any] = {}
    if args.namespace:
        query["Namespace"] = args.namespace
    if args.name:
        query["MetricName"] = args.name
    if args.dimension:
        query["Dimensions"] = _dimensions(args.dimension)
    metrics: list[dict[str, Any]] = []
    for page in cw.get_paginator("list_metrics").paginate(**query):
        metrics += page.get("Metrics", [])
    if args.output == "json":
        print(json.dumps(metrics, indent=2))
    else:
        for m in metrics:
            print(_metric_text(m))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    dims = _dimensions(args.dimension or [])
    if any("Value" not in d for d in dims):
        raise CliError("metrics show needs NAME=VALUE dimensions")
    end = datetime.now(UTC)
    start = end - timedelta(minutes=args.minutes)
    period = args.period
    found = _client(args).get_metric_statistics(
        Namespace=args.namespace, MetricName=args.name, Dimensions=dims, StartTime=start,
        EndTime=end, Period=period, Statistics=[args.statistic])
    points = sorted(found.get("Datapoints", []), key=lambda p: p["Timestamp"])
    by_slot = {int((p["Timestamp"] - start).total_seconds() // period): p for p in points}
    slots = int(args.minutes * 60 // period)
    values: list[float | None] = [
        float(by_slot[i][args.statistic]) if i in by_slot else None for i in range(slots)]
    if args.output == "json":
        print(json.dumps({"Namespace": args.namespace, "MetricName": args.name,
                          "Dimensions": dims, "Statistic": args.statistic, "Period": period,
                          "StartTime": start.isoformat(), "EndTime": end.isoformat(),
                          "Datapoints": points}, indent=2, default=str))
        return 0
    label = ",".join(f"{d['Name']}={d['Value']}" for d in dims) or "(all)"
    print(f"{args.namespace} {args.name} {label} {args.statistic} per {period}s, "
          f"last {args.minutes} min")
    known = [v for v in values if v is not None]
    if not known:
        print("no datapoints")
        return 0
    unit = points[-1].get("Unit", "")
    print(f"{sparkline(values)}  min {min(known):g} max {max(known):g} "
          f"last {known[-1]:g} {unit}")
    for p in points:
        print(f"{p['Timestamp'].isoformat()}\t{p[args.statistic]:g}")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``metrics`` under the cloudctl subcommands."""
    top = sub.add_parser("metrics", help="CloudWatch metrics: list them, chart one")
    msub = top.add_subparsers(dest="metrics_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--account", default="eucalyptus",
                       help="the account whose metrics (an instance's are its owner's)")
        p.add_argument("--user", default="admin")
        p.add_argument("--region", default="eucalyptus")
        p.add_argument("--dimension", action="append",
                       help="NAME=VALUE (repeatable; for list, NAME alone matches any value)")

    p = msub.add_parser("list", help="metrics (ListMetrics)")
    p.add_argument("--namespace")
    p.add_argument("--name")
    common(p)
    p.set_defaults(func=cmd_list)

    p = msub.add_parser("show", help="one metric as a sparkline (GetMetricStatistics)")
    p.add_argument("namespace", help="e.g. AWS/EC2")
    p.add_argument("name", help="e.g. CPUUtilization")
    p.add_argument("--statistic", default="Average",
                   choices=("Average", "Sum", "Minimum", "Maximum", "SampleCount"))
    p.add_argument("--period", type=int, default=300, help="seconds per point (default 300)")
    p.add_argument("--minutes", type=int, default=180, help="how far back (default 180)")
    common(p)
    p.set_defaults(func=cmd_show)
