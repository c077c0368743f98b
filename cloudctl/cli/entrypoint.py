"""``cloudctl entrypoint``: one address for the API hosts of a multi-host cloud.

Runs haproxy in the foreground with the configuration the ELB data plane's writer
renders (``netd.lb.entry_config``): one HTTP listener whose back-ends are the API
hosts (``--host ADDRESS[:PORT]``, all on one port), each checked on
``/_cloud/health`` every ``--check-interval`` seconds and taken out after two failed
checks; a request whose connection fails goes to another host. Clients retry the
rest (botocore's retries, as on AWS). State (haproxy.cfg, the stats socket) lives in
``--state-dir`` (default ``<data>/entry``). SIGINT/SIGTERM stop haproxy.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from cloudctl.cli.adminclient import CliError
from cloudctl.config import DEFAULT_PORT, load_settings


def _hosts(values: list[str]) -> tuple[list[str], int]:
    """The hosts' addresses and their one port (``ADDRESS[:PORT]``, port default 8773)."""
    addresses: list[str] = []
    ports: set[int] = set()
    for value in values:
        host, sep, port = value.rpartition(":")
        if not sep or "]" in port:
            host, port = value, str(DEFAULT_PORT)
        host = host.strip("[]")
        if not port.isdigit() or not host:
            raise CliError(f"expected ADDRESS[:PORT] for --host, got {value!r}")
        if host in addresses:
            raise CliError(f"API host {host} named twice")
        addresses.append(host)
        ports.add(int(port))
    if not addresses:
        raise CliError("name the API hosts: --host ADDRESS[:PORT] (repeatable)")
    if len(ports) != 1:
        raise CliError("the API hosts serve on one port (bootstrap.webservices.port)")
    return addresses, ports.pop()


def write_config(state: Path, listen: tuple[str, int], hosts: list[str], host_port: int,
                 interval: int) -> Path:
    """The checked haproxy configuration of the entry point, in ``state``."""
    from netd import lb

    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    cfg = state / "haproxy.cfg"
    new = state / "haproxy.cfg.new"
    new.write_text(lb.entry_config(listen[0], listen[1], hosts, host_port, state,
                                   interval=interval))
    check = subprocess.run([lb.HAPROXY, "-c", "-q", "-f", str(new)], capture_output=True,
                           text=True, timeout=30)
    if check.returncode != 0:
        raise CliError(f"haproxy refused the entry point configuration: "
                       f"{(check.stdout + check.stderr)[-600:]}")
    new.replace(cfg)
    return cfg


def run_entrypoint(args: argparse.Namespace) -> int:
    from cloudctl.server.app import die_with_parent
    from netd import lb

    hosts, host_port = _hosts(args.host)
    state = (Path(args.state_dir) if args.state_dir
             else load_settings(args.data_dir).data_dir / "entry")
    cfg = write_config(state, args.listen, hosts, host_port, args.check_interval)
    parent = os.getpid()
    proc = subprocess.Popen([lb.HAPROXY, "-W", "-db", "-f", str(cfg)],
                            stdin=subprocess.DEVNULL, preexec_fn=lambda: die_with_parent(parent))

    def stop(_signum: int, _frame: Any) -> None:
        proc.terminate()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    host, port = args.listen
    print(f"entry point up on http://{host}:{port} for {len(hosts)} API host(s): "
          f"{', '.join(f'{h}:{host_port}' for h in hosts)} (haproxy pid {proc.pid})",
          flush=True)
    code = proc.wait()
    return 0 if code in (0, -signal.SIGTERM, 143) else code


def add_parser(sub: Any, parse_listen: Any) -> None:
    p = sub.add_parser("entrypoint", help="one address for the API hosts (haproxy)")
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", DEFAULT_PORT),
                   help=f"HOST:PORT clients use (default 127.0.0.1:{DEFAULT_PORT})")
    p.add_argument("--host", action="append", default=[],
                   help="an API host, ADDRESS[:PORT] (repeatable; one port for all)")
    p.add_argument("--check-interval", type=int, default=1,
                   help="seconds between health checks of each host (default 1)")
    p.add_argument("--state-dir", default=None,
                   help="haproxy.cfg and the stats socket (default <data>/entry)")
    p.set_defaults(func=run_entrypoint)
