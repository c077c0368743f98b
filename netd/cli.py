"""`netd` command line: validate configuration and views, apply a view, tear down.

Owns only argument parsing and printing; the work is done by `netd.config`,
`netd.view` and `netd.agent`.

    netd check-config FILE           validate a network configuration JSON
    netd check-view FILE             validate a network view JSON
    netd apply --netns NS --host H --state-dir DIR [--public-interface IF]
               [--underlay-interface IF] FILE
    netd teardown --netns NS --host H --state-dir DIR [--public-interface IF]
    netd vpc-agent --zookeeper CONNECT --host NODE [--host-ns NS] --underlay-ip IP
               --underlay-dev DEV --state-dir DIR [--guest-bridges]
               [--metadata-upstream unix:PATH|tcp:HOST:PORT] [--teardown] ...
                                     the VPC host agent of a hypervisor host
                                     (``netd.vpc.agent``; docs/multi-host.md)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from netd.agent import NetAgent
from netd.config import NetworkConfigError, parse_edge_config
from netd.host import HostConfig
from netd.view import ViewError, parse_view


def _host_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--netns", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--public-interface")
    p.add_argument("--underlay-interface")


def _cfg(a: argparse.Namespace) -> HostConfig:
    return HostConfig(netns=a.netns, host=a.host, state_dir=a.state_dir,
                      public_interface=a.public_interface,
                      underlay_interface=a.underlay_interface)


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # disks, overlays, console logs and state: owner-only
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["vpc-agent"]:
        from netd.vpc.agent import main as vpc_agent

        vpc_agent(args[1:], prog="netd vpc-agent")
        return 0
    ap = argparse.ArgumentParser(prog="netd")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check-config").add_argument("file", type=Path)
    sub.add_parser("check-view").add_argument("file", type=Path)
    p_apply = sub.add_parser("apply")
    _host_args(p_apply)
    p_apply.add_argument("file", type=Path)
    _host_args(sub.add_parser("teardown"))
    a = ap.parse_args(argv)
    try:
        if a.cmd == "check-config":
            parse_edge_config(json.loads(a.file.read_text()))
        elif a.cmd == "check-view":
            parse_view(json.loads(a.file.read_text()))
        elif a.cmd == "apply":
            agent = NetAgent(_cfg(a))
            version = agent.apply(json.loads(a.file.read_text()))
            print(json.dumps({"applied_version": version, **agent.status().to_json()}))
        elif a.cmd == "teardown":
            NetAgent(_cfg(a)).teardown()
    except (NetworkConfigError, ViewError) as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    print("ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
