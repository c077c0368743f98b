"""``cloudctl stack events NAME [--follow]``: a stack's events, the way people watch a
deployment: oldest first, then (``--follow``) each new event as it happens until the
stack reaches a terminal status. ``--output json`` prints one JSON object per event
(one per line while following).

Reads DescribeStackEvents as the given account's user (default: the cloud admin).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from cloudctl.cli.adminclient import botocore_session, user_key
from cloudctl.config import load_settings

__all__ = ["add_parser", "format_event"]

TERMINAL = ("_COMPLETE", "_FAILED")


def _client(args: argparse.Namespace) -> Any:
    from botocore.config import Config

    settings = load_settings(args.data_dir)
    key = user_key(settings, args.account, args.user)
    return botocore_session().create_client(
        "cloudformation", region_name=args.region, endpoint_url=args.endpoint,
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=60))


def _all_events(client: Any, stack: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("describe_stack_events").paginate(StackName=stack)
    found = [event for page in pages for event in page["StackEvents"]]
    return list(reversed(found))


def format_event(event: dict[str, Any]) -> str:
    stamp = event["Timestamp"].strftime("%Y-%m-%d %H:%M:%S")
    reason = event.get("ResourceStatusReason") or ""
    return (f"{stamp}  {event['ResourceStatus']:<44} {event['ResourceType']:<36} "
            f"{event['LogicalResourceId']:<24} {reason}").rstrip()


def _print(args: argparse.Namespace, event: dict[str, Any]) -> None:
    if args.output == "json":
        print(json.dumps(event, default=str), flush=True)
    else:
        print(format_event(event), flush=True)


def cmd_events(args: argparse.Namespace) -> int:
    client = _client(args)
    stack_id = client.describe_stacks(StackName=args.name)["Stacks"][0]["StackId"]
    seen: set[str] = set()
    while True:
        for event in _all_events(client, stack_id):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            _print(args, event)
        if not args.follow:
            return 0
        status = client.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status.endswith(TERMINAL) and not status.endswith("IN_PROGRESS"):
            for event in _all_events(client, stack_id):
                if event["EventId"] not in seen:
                    seen.add(event["EventId"])
                    _print(args, event)
            return 0 if not status.endswith("FAILED") and "ROLLBACK" not in status else 2
        time.sleep(args.interval)


def add_parser(sub: Any) -> None:
    """Register ``stack`` under the cloudctl subcommands."""
    top = sub.add_parser("stack", help="CloudFormation stacks (watch a stack's events)")
    ssub = top.add_subparsers(dest="stack_command", required=True)
    p = ssub.add_parser("events", help="a stack's events, oldest first")
    p.add_argument("name", help="stack name or id")
    p.add_argument("--follow", "-f", action="store_true",
                   help="print new events until the stack reaches a terminal status")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--account", default="eucalyptus")
    p.add_argument("--user", default="admin")
    p.add_argument("--region", default="eucalyptus")
    p.set_defaults(func=cmd_events)
