"""``cloudctl property``: list, get, set and reset cloud properties through the API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cloudctl.cli.adminclient import CliError, admin_client
from cloudctl.config import Settings


def _value_of(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep:
        raise CliError(f"expected NAME=VALUE or NAME=@file, got {spec!r}")
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            value = path.read_text()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from None
    return name.strip(), value


def _show(args: argparse.Namespace, props: list[dict[str, Any]]) -> None:
    if args.output == "json":
        print(json.dumps({p["Name"]: _typed(p.get("Value", "")) for p in props}, indent=2))
        return
    for prop in props:
        print(f"{prop['Name']} = {prop.get('Value', '')}")


def _typed(value: str) -> Any:
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def run_property(args: argparse.Namespace, settings: Settings) -> int:
    client = admin_client(settings, "properties", args.endpoint)
    command = args.prop_command
    if command in ("list", "get"):
        if command == "get" and not args.items:
            raise CliError("property get needs at least one name")
        response = client.describe_properties(Properties=args.items)
        props = response.get("Properties", [])
        if command == "list" and args.output != "json":
            for prop in props:
                print(f"{prop['Name']} = {prop.get('Value', '')}")
                if prop.get("Description"):
                    print(f"    {prop['Description']}")
            return 0
        _show(args, props)
        return 0
    if not args.items:
        raise CliError(f"property {command} needs at least one argument")
    results = []
    for item in args.items:
        if command == "set":
            name, value = _value_of(item)
            out = client.modify_property_value(Name=name, Value=value)
        else:
            out = client.modify_property_value(Name=item, Reset=True)
        results.append({"Name": out["Name"], "Value": out.get("Value"), "OldValue": out.get("OldValue")})
    if args.output == "json":
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['Name']} = {r['Value']} (was {r['OldValue']})")
    return 0
