"""``cloudctl instance ssh|console``: reach a guest of the all-in-one cloud.

The guests' private addresses live on ``br-cloud`` inside the network namespace of
the cloud's private libvirtd, not on the host: ``ssh`` looks the instance's address
up through the API (as the cloud admin, ``verbose``: any account's instance) and
runs ``ip netns exec <namespace> ssh ...`` with the namespace ``cloudctl up``
recorded, or for an instance in a VPC its VPC's router namespace on this host
(``--netns`` overrides both). ``console`` prints GetConsoleOutput.
"""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any

from cloudctl.cli.adminclient import CliError, botocore_session, user_key
from cloudctl.cli.up import up_record
from cloudctl.config import Settings, load_settings

__all__ = ["add_parser", "ssh_argv"]


def _ec2(args: argparse.Namespace, settings: Settings) -> Any:
    from botocore.config import Config

    key = user_key(settings, args.account, args.user)
    return botocore_session().create_client(
        "ec2", region_name=args.region, endpoint_url=args.endpoint,
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))


def _address(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    """The instance's private address and its VPC ("" for an EDGE instance)."""
    ids = ["verbose", args.instance_id] if args.account == "eucalyptus" else [args.instance_id]
    found = _ec2(args, settings).describe_instances(InstanceIds=ids)
    for reservation in found.get("Reservations", []):
        for item in reservation.get("Instances", []):
            if item.get("InstanceId") != args.instance_id:
                continue
            if item.get("State", {}).get("Name") != "running":
                raise CliError(f"{args.instance_id} is {item.get('State', {}).get('Name')}, "
                               "not running")
            address = item.get("PrivateIpAddress")
            if not address:
                raise CliError(f"{args.instance_id} has no private address yet")
            return str(address), str(item.get("VpcId") or "")
    raise CliError(f"no instance {args.instance_id}")


def _netns(args: argparse.Namespace, settings: Settings, vpc_id: str = "") -> str:
    """``--netns``; else, for an instance in a VPC, the VPC's router namespace on this host
    (the all-in-one VPC host agent's, where its subnets are connected); else the guests'
    namespace ``cloudctl up`` recorded."""
    from cloudctl.cli.vpc_host import router_namespace

    router = router_namespace(settings, vpc_id) if vpc_id and not args.netns else ""
    if router and os.path.exists(f"/run/netns/{router}"):
        return router
    netns = args.netns or os.environ.get("CLOUDCTL_LOCAL_NODE_NETNS") or str(
        up_record(settings).get("netns") or "")
    if not netns:
        raise CliError("the cloud recorded no guest network namespace (is it up, on a real "
                       "node? `cloudctl up --node fake` runs no guests): pass --netns NAME")
    return netns


def ssh_argv(netns: str, address: str, *, user: str, key: str | None,
             command: list[str]) -> list[str]:
    """``ip netns exec NS ssh ...`` for a guest (host keys of throwaway guests not kept)."""
    argv = ["ip", "netns", "exec", netns, "ssh", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-l", user]
    if key:
        argv += ["-i", key]
    return [*argv, address, *command]


def cmd_ssh(args: argparse.Namespace) -> int:
    settings = load_settings(args.data_dir)
    if shutil.which("ssh") is None:
        raise CliError("ssh not found: apt-get install openssh-client")
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    address, vpc_id = _address(args, settings)
    argv = ssh_argv(_netns(args, settings, vpc_id), address, user=args.login,
                    key=args.identity, command=command)
    os.execvp(argv[0], argv)
    return 1  # pragma: no cover (exec does not return)


def cmd_console(args: argparse.Namespace) -> int:
    settings = load_settings(args.data_dir)
    out = _ec2(args, settings).get_console_output(InstanceId=args.instance_id)
    text = str(out.get("Output") or "")  # botocore decodes the base64
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``instance`` under the cloudctl subcommands."""
    top = sub.add_parser("instance", help="reach a guest (ssh through the cloud's namespace, "
                                          "console)")
    isub = top.add_subparsers(dest="instance_command", required=True)

    p = isub.add_parser("ssh", help="ssh to an instance from the cloud's network namespace")
    p.add_argument("instance_id")
    p.add_argument("-i", "--identity", default=None, help="private key (the key pair's .pem)")
    p.add_argument("-l", "--login", default="root", help="user name on the guest")
    p.add_argument("--netns", default=None,
                   help="network namespace (default: the one `cloudctl up` recorded)")
    p.add_argument("--account", default="eucalyptus")
    p.add_argument("--user", default="admin")
    p.add_argument("--region", default="eucalyptus")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="a command to run on the guest (after --)")
    p.set_defaults(func=cmd_ssh)

    p = isub.add_parser("console", help="the instance's console output")
    p.add_argument("instance_id")
    p.add_argument("--account", default="eucalyptus",
                   help="the instance owner's account (its console is the owner's)")
    p.add_argument("--user", default="admin")
    p.add_argument("--region", default="eucalyptus")
    p.set_defaults(func=cmd_console)
