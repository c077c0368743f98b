"""``cloudctl``: the cloud administrator's command line.

Commands: ``init [--join FILE]``, ``up [--role api|controllers|all]``,
``cluster export FILE``, ``entrypoint``, ``db upgrade|current|downgrade``, ``credentials``,
``property list|get|set|reset`` and ``service list|disable|enable`` (through the admin APIs,
like euctl and euserv), ``instance ssh|console``, ``metrics list|show``,
``stack events NAME [--follow]``, each with ``--output json`` for
scripts. The global options (``--output``, ``--endpoint``, ``--data-dir``) go before
or after the subcommand; the endpoint defaults to the one the running cloud recorded.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from cloudctl.cli.adminclient import CliError
from cloudctl.cli.endpoint import resolve as resolve_endpoint
from cloudctl.config import DEFAULT_PORT, Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.data_dir)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.output == "json":
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


def _parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        host, port = value, str(DEFAULT_PORT)
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}") from None


def cmd_init(args: argparse.Namespace) -> int:
    from cloudctl.init import initialise

    if args.join:
        from cloudctl.cli.cluster import join, shared_zones

        joined = join(_settings(args), args.join)
        settings = _settings(args)  # now on the shared database
        zones = shared_zones(settings)
        _print(args, {"data_dir": str(settings.data_dir), "cloud_id": joined.cloud_id,
                      "zones": zones, "files": joined.files},
               f"{settings.data_dir} joined cloud {joined.cloud_id[:16]}... "
               f"({joined.files} key files written; zones {', '.join(zones)})\n"
               "  start it: cloudctl up --role api|controllers (docs/multi-host.md)")
        return 0
    result = initialise(_settings(args), region=args.region, zones=args.zone or None,
                        network_mode=args.network_mode)
    from cloudctl.cli.vpc_host import warn_kept_mode

    warn_kept_mode(args.network_mode, result.network_mode)
    data = {"data_dir": str(result.data_dir), "region": args.region, "zones": result.zones,
            "admin_access_key_id": result.admin_key.access_key_id,
            "account_id": result.admin_key.account_id, "created_key": result.created_key,
            "network_mode": result.network_mode}
    _print(args, data,
           f"cloud initialised in {result.data_dir}\n"
           f"  region {args.region}, zones {', '.join(result.zones)}\n"
           f"  network mode {result.network_mode}\n"
           f"  admin account eucalyptus ({result.admin_key.account_id}), user admin, "
           f"access key {result.admin_key.access_key_id}\n"
           "  credentials: cloudctl credentials --account eucalyptus --user admin --format aws")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from cloudctl.cli.cluster import cmd_cluster as run_cluster

    return run_cluster(args, _settings(args))


def cmd_db(args: argparse.Namespace) -> int:
    from cloudctl.db import migrate

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.db_command == "upgrade":
        migrate.upgrade(settings.database_url, args.revision)
    elif args.db_command == "downgrade":
        migrate.downgrade(settings.database_url, args.revision)
    revision = migrate.current(settings.database_url)
    _print(args, {"revision": revision}, f"database at revision {revision}")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from cloudctl.cli.adminclient import user_key
    from cloudctl.cli.credentials import RENDERERS, CredentialBundle

    settings = _settings(args)
    key = user_key(settings, args.account, args.user)
    bundle = CredentialBundle(
        endpoint=args.endpoint.rstrip("/"), region=args.region, account_id=key.account_id,
        account_name=args.account, user_name=args.user, access_key_id=key.access_key_id,
        secret_access_key=key.secret_access_key, ca_cert=str(settings.ca_dir / "ca.pem"))
    if args.output == "json":
        print(json.dumps({"AccountId": key.account_id, "UserName": args.user,
                          "AccessKeyId": key.access_key_id,
                          "SecretAccessKey": key.secret_access_key,
                          "Endpoint": bundle.endpoint, "Region": args.region}, indent=2))
    else:
        sys.stdout.write(RENDERERS[args.format](bundle))
    return 0


def cmd_property(args: argparse.Namespace) -> int:
    from cloudctl.cli.properties import run_property

    return run_property(args, _settings(args))


def cmd_service(args: argparse.Namespace) -> int:
    from cloudctl.cli.service import run_service

    if args.service_command != "list" and not args.host:
        raise CliError(f"service {args.service_command}: name the cloud host")
    return run_service(args, _settings(args))


def cmd_network(args: argparse.Namespace) -> int:
    from cloudctl.cli.network import render_text, run_network

    summary = run_network(_settings(args), args.network_command)
    _print(args, summary, render_text(summary))
    return 0


def cmd_elb(args: argparse.Namespace) -> int:
    from cloudctl.cli.elb import render_text, run_elb

    summary = run_elb(_settings(args), args.elb_command)
    _print(args, summary, render_text(summary))
    return 0


def cmd_account(args: argparse.Namespace) -> int:
    from cloudctl.cli.accounts import run_account

    return run_account(args, _settings(args))


def cmd_node(args: argparse.Namespace) -> int:
    from cloudctl.cli.nodes import run_node

    return run_node(args, _settings(args))


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The options every command takes, before or after the subcommand."""
    parser.add_argument("--data-dir", default=default,
                        help="data directory (default $CLOUDCTL_DATA_DIR or /var/lib/cloudctl)")
    parser.add_argument("--output", choices=("text", "json"),
                        default="text" if default is None else default)
    parser.add_argument("--endpoint", default=default,
                        help="API endpoint of the running cloud (default $CLOUDCTL_ENDPOINT, "
                             "else what `cloudctl up` recorded in the data dir, else "
                             f"http://127.0.0.1:{DEFAULT_PORT})")


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (subcommands, their subcommands...)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subparsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudctl", description=__doc__.splitlines()[0])
    _global_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)

    from cloudctl.cli.up import NETWORK_MODES
    from cloudctl.cli.up import add_parser as add_up_parser

    p = sub.add_parser("init", help="initialise the cloud (idempotent)")
    p.add_argument("--region", default="eucalyptus")
    p.add_argument("--zone", action="append", help="availability zone (repeatable)")
    p.add_argument("--join", metavar="FILE", default=None,
                   help="make this host another host of an existing cloud, from the file "
                        "`cloudctl cluster export` wrote on one of its hosts")
    p.add_argument("--network-mode", type=str.upper, choices=NETWORK_MODES, default=None,
                   help="network mode of a new cloud: VPC (default) or EDGE; an initialised "
                        "cloud keeps its own (switch: cloudctl property set "
                        "cloud.network.network_configuration)")
    p.set_defaults(func=cmd_init)

    from cloudctl.cli.cluster import add_parser as add_cluster_parser

    add_cluster_parser(sub)
    sub.choices["cluster"].set_defaults(func=cmd_cluster)

    from cloudctl.cli.entrypoint import add_parser as add_entry_parser

    add_entry_parser(sub, _parse_listen)
    add_up_parser(sub, _parse_listen)

    p = sub.add_parser("db", help="database schema")
    p.add_argument("db_command", choices=("upgrade", "downgrade", "current"))
    p.add_argument("revision", nargs="?", default="heads")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("credentials", help="print credentials for a user")
    p.add_argument("--account", default="eucalyptus")
    p.add_argument("--user", default="admin")
    p.add_argument("--format", choices=("aws", "eucarc", "ini"), default="aws")
    p.add_argument("--region", default="eucalyptus")
    p.set_defaults(func=cmd_credentials)

    p = sub.add_parser("property", help="cloud properties (like euctl)")
    p.add_argument("prop_command", choices=("list", "get", "set", "reset"))
    p.add_argument("items", nargs="*", help="names, prefixes, or NAME=VALUE / NAME=@file")
    p.set_defaults(func=cmd_property)

    p = sub.add_parser("network", help="EDGE network view and hosts")
    p.add_argument("network_command", choices=("show",))
    p.set_defaults(func=cmd_network)

    p = sub.add_parser("elb", help="load balancers and their data plane (haproxy)")
    p.add_argument("elb_command", choices=("show",))
    p.set_defaults(func=cmd_elb)

    from cloudctl.cli.accounts import add_parser as add_account_parser

    add_account_parser(sub)
    sub.choices["account"].set_defaults(func=cmd_account)

    from cloudctl.cli.nodes import add_parser as add_node_parser

    add_node_parser(sub)
    sub.choices["node"].set_defaults(func=cmd_node)

    from cloudctl.cli.service import add_parser as add_service_parser

    add_service_parser(sub).set_defaults(func=cmd_service)

    from cloudctl.cli.images import add_parser as add_image_parser

    add_image_parser(sub)

    from cloudctl.cli.instances import add_parser as add_instance_parser

    add_instance_parser(sub)

    from cloudctl.cli.metrics import add_parser as add_metrics_parser

    add_metrics_parser(sub)

    from cloudctl.cli.stacks import add_parser as add_stack_parser

    add_stack_parser(sub)
    for child in _subparsers(parser):
        # SUPPRESS: an option not given after the subcommand keeps its value from before it
        _global_options(child, argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # the data directory (database, WAL, disks, logs) is the cloud's alone
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.endpoint = resolve_endpoint(_settings(args), args.endpoint)
        return int(args.func(args))
    except CliError as exc:
        print(f"cloudctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # botocore errors and connection failures: one readable line
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            print(f"cloudctl: {err.get('Code')}: {err.get('Message')}", file=sys.stderr)
            return 1
        if isinstance(exc, BotoCoreError):
            print(f"cloudctl: {exc}", file=sys.stderr)
            return 1
        raise


def run() -> NoReturn:
    """The ``cloudctl`` program (``python -m cloudctl`` and the installed script): ``main``,
    then exit with its status.

    The process ends here. Its final garbage collection walked every object still alive
    (a stopped cloud: every service's models and caches), 0.5 to 1 s of a cloud's stop
    after all its work was done and its files closed; frozen, they are left to the OS.
    Exit handlers (logging's flush among them) still run.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
