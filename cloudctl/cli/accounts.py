"""``cloudctl account create|list|delete``: the Eucalyptus accounts API (like euare-account*)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cloudctl.cli.adminclient import CliError, admin_client
from cloudctl.config import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("account", help="accounts (cloud administrator)")
    p.add_argument("account_command", choices=("create", "list", "delete"))
    p.add_argument("name", nargs="?")
    p.add_argument("--recursive", action="store_true", help="delete its resources too")
    p.add_argument("--email")


def run_account(args: argparse.Namespace, settings: Settings) -> int:
    client = admin_client(settings, "iam", args.endpoint)
    command = args.account_command
    if command == "list":
        rows = client.list_accounts()["Accounts"]
        if args.output == "json":
            print(json.dumps(rows, indent=2))
        else:
            for row in rows:
                print(f"{row['AccountName']}\t{row['AccountId']}")
        return 0
    if not args.name:
        raise CliError(f"account {command} needs an account name")
    if command == "create":
        params = {"AccountName": args.name}
        if args.email:
            params["Email"] = args.email
        row = client.create_account(**params)["Account"]
        print(json.dumps(row, indent=2) if args.output == "json"
              else f"{row['AccountName']}\t{row['AccountId']}")
        return 0
    client.delete_account(AccountName=args.name, Recursive=bool(args.recursive))
    return 0
