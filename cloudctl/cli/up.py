"""``cloudctl up``: the whole cloud on this host, in the foreground.

Owns choosing the all-in-one node (``--node``, else ``CLOUDCTL_LOCAL_NODE``, else the
``cloud.node.local`` property): ``private`` (the default) starts a private libvirtd
under ``<data>/libvirtd`` (``nodectl.libvirtd``: tini, virtlogd, its own mount and
network namespaces), restarts it if it dies while the cloud runs and stops it (with
its guests and the guests' network) when the cloud stops; ``libvirt`` drives an
existing libvirtd at ``cloud.node.libvirt_uri``; ``fake`` runs fake guests; ``none``
runs no node. A missing hypervisor is an error naming what to install, never a
silent fallback to fake guests. A new cloud is in VPC mode unless ``--network-mode
EDGE`` (``cloudctl.init``). In VPC mode with a hypervisor node it also runs the
cloud's ZooKeeper (when none is configured) and the netd VPC host agent of the node
(``vpc_host``), stopped and cleaned up with the cloud.

Records the API endpoint in ``<data>/endpoint`` and what it started in
``<data>/run/up.json`` (``cloudctl instance ssh`` reads the namespace there).

``--role`` (``cloudctl.server.roles``): ``all`` is the all-in-one cloud above; ``api``
serves the APIs and the metadata service and runs neither controllers nor a node
(``--node`` is ignored: nodes belong to controllers hosts); ``controllers`` runs the
controllers and the node and answers only its health check (docs/multi-host.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

from cloudctl.cli import endpoint as endpoint_mod
from cloudctl.cli import vpc_host
from cloudctl.cli.adminclient import CliError
from cloudctl.config import EVENT_LOOPS, Settings, load_settings
from cloudctl.server.roles import ROLES, Role

if TYPE_CHECKING:
    from cloudctl.cli.vpc_host import VpcHost
    from cloudctl.cli.vpc_outside import Outside
    from nodectl.libvirtd import PrivateLibvirtd

__all__ = ["NETWORK_MODES", "NODE_MODES", "run_up", "stored_property", "up_record"]

log = logging.getLogger("cloudctl.up")

NODE_MODES = ("private", "libvirt", "fake", "none")
NETWORK_MODES = ("VPC", "EDGE")  # of a new cloud (``cloudctl.init``): VPC by default

# binary -> the Debian package that ships it
_TOOLS = {
    "libvirtd": "libvirt-daemon libvirt-daemon-driver-qemu",
    "virtlogd": "libvirt-daemon",
    "qemu-system-x86_64": "qemu-system-x86",
    "tini": "tini",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "ip": "iproute2",
}
SUPERVISE_INTERVAL = 2.0


def up_record(settings: Settings) -> dict[str, Any]:
    """What the running (or last) ``cloudctl up`` recorded; {} if none."""
    try:
        data = json.loads((settings.run_dir / "up.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def missing_hypervisor() -> str | None:
    """Why a private libvirtd cannot run here (what to install), or None."""
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(" ".join(_TOOLS[t] for t in missing).split()))
        return (f"{', '.join(missing)} not found: run scripts/install-deps.sh run or "
                f"apt-get install {packages}")
    if importlib.util.find_spec("libvirt") is None:
        return ("the libvirt Python binding is missing: run scripts/install-deps.sh run or "
                "pip install libvirt-python")
    return None


def stored_property(settings: Settings, name: str) -> str:
    """A property's stored value (its default if unset), read before the server runs."""
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.properties.models import PropertyValue
    from cloudctl.properties.registry import registry

    async def read() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                row = await session.get(PropertyValue, name)
                return row.value if row is not None else None
        finally:
            await engine.dispose()

    value = asyncio.run(read())
    return value if value is not None else registry.get(name).default


def node_mode(settings: Settings, flag: str | None) -> str:
    """``--node``, else ``CLOUDCTL_LOCAL_NODE``, else the ``cloud.node.local`` property."""
    from cloudctl.services.ec2.compute import nodes as nodes_mod

    mode = flag or os.environ.get("CLOUDCTL_LOCAL_NODE") or stored_property(
        settings, nodes_mod.LOCAL_NODE.name)
    mode = "private" if mode == "auto" else mode
    if mode not in NODE_MODES:
        raise CliError(f"unknown node mode {mode!r}: one of {', '.join(NODE_MODES)}")
    return mode


class Supervisor:
    """Restarts the private libvirtd when it dies (its guests live on and re-attach)."""

    def __init__(self, daemon: PrivateLibvirtd) -> None:
        self.daemon = daemon
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="libvirtd-supervisor",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=90)

    def _loop(self) -> None:
        while not self._stop.wait(SUPERVISE_INTERVAL):
            if self.daemon.running() is not None:
                continue
            log.warning("the private libvirtd died; restarting it")
            try:
                rec = self.daemon.start()
            except Exception:
                log.exception("the private libvirtd did not restart; trying again")
                continue
            self.restarts += 1
            log.info("private libvirtd restarted (tini pid %d)", rec.tini_pid)


def _check_libvirt(uri: str) -> str | None:
    try:
        import libvirt
    except ImportError:
        return ("the libvirt Python binding is missing: run scripts/install-deps.sh run or "
                "pip install libvirt-python")
    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError as exc:
        return f"libvirt at {uri} is not reachable ({exc})"
    return None


def _teardown_network(settings: Settings, netns: str) -> None:
    """Remove the guests' network netd set up in the libvirtd's namespace."""
    from netd import host as netd_host

    state = settings.data_dir / "netd" / "local"
    if state.exists():
        with contextlib.suppress(Exception):
            netd_host.teardown(netd_host.HostConfig(netns=netns, host="local", state_dir=state))


def _fail(message: str) -> int:
    print(f"cloudctl up: {message}", file=sys.stderr, flush=True)
    return 1


def run_up(args: argparse.Namespace) -> int:
    import faulthandler

    from cloudctl.init import initialise
    from cloudctl.server import eventloop
    from cloudctl.server.app import configure_logging, serve

    faulthandler.enable()  # a crash in a native library (librbd, libvirt) leaves a trace
    configure_logging(args.log_level)
    settings = load_settings(args.data_dir)
    if args.event_loop:
        settings = dataclasses.replace(settings, event_loop=args.event_loop)
    try:
        eventloop.loop_factory(settings.event_loop)
    except (ValueError, eventloop.MissingLoop) as exc:
        return _fail(str(exc))  # before anything starts: no silent fallback
    role = Role(args.role)
    if role is not Role.ALL and not (settings.ca_dir / "ca.pem").exists():
        # a new CA and master key here would not open the shared database's secrets
        return _fail(f"{settings.data_dir} holds no cloud: run `cloudctl init` on the first "
                     "host, `cloudctl init --join FILE` on the others (docs/multi-host.md)")
    result = initialise(settings, region=args.region, network_mode=args.network_mode)
    vpc_host.warn_kept_mode(args.network_mode, result.network_mode)
    mode = node_mode(settings, args.node) if role.has_controllers else "none"
    daemon: PrivateLibvirtd | None = None
    node_text = {"fake": "local, fake guests (--node fake)", "none": "none (--node none)"}.get(
        mode, "")
    if not role.has_controllers:
        node_text = "none (an api host: nodes belong to controllers hosts)"
    record: dict[str, Any] = {"node": mode, "data_dir": str(settings.data_dir), "netns": "",
                              "role": str(role)}
    if mode == "private":
        why = missing_hypervisor()
        if why:
            return _fail(why)
        from nodectl.libvirtd import LibvirtdError, PrivateLibvirtd

        try:
            daemon = PrivateLibvirtd(settings.data_dir / "libvirtd")
            running = daemon.start()
        except (LibvirtdError, OSError) as exc:
            return _fail(f"the private libvirtd did not start: {exc}")
        os.environ["CLOUDCTL_LOCAL_NODE"] = "libvirt"
        os.environ["CLOUDCTL_LIBVIRT_URI"] = daemon.uri
        record.update(netns=daemon.netns, libvirt_socket=str(daemon.socket_path),
                      libvirt_uri=daemon.uri, tini_pid=running.tini_pid)
        node_text = f"local, QEMU guests on a private libvirtd (tini pid {running.tini_pid})"
    elif mode == "libvirt":
        from cloudctl.services.ec2.compute import nodes as nodes_mod
        from cloudctl.services.ec2.network.instance_network import local_node_netns

        uri = os.environ.get("CLOUDCTL_LIBVIRT_URI") or stored_property(
            settings, nodes_mod.LIBVIRT_URI.name)
        why = _check_libvirt(uri)
        if why:
            return _fail(why)
        os.environ["CLOUDCTL_LOCAL_NODE"] = "libvirt"
        record.update(netns=local_node_netns(uri) or "", libvirt_uri=uri)
        node_text = f"local, QEMU guests on libvirt at {uri}"
    else:
        os.environ["CLOUDCTL_LOCAL_NODE"] = mode

    if args.listen is None:
        from cloudctl.init import configured_port

        host, port = "127.0.0.1", configured_port(settings)
    else:
        host, port = args.listen
    from cloudctl.services.ec2.vpc.properties import ZOOKEEPER

    vpc: VpcHost | None = None
    record["network_mode"] = result.network_mode
    net_text = {"VPC": "VPC (each account gets a default VPC: run-instances needs no "
                       "subnet)", "EDGE": "EDGE"}[result.network_mode]
    outside: Outside | None = None
    if mode in ("private", "libvirt") and result.network_mode == "VPC":
        from cloudctl.cli.vpc_outside import Outside, gateway_of
        from cloudctl.services.network.config import NETWORK_CONFIGURATION

        if record["netns"] and port:  # (an ephemeral port is known only once bound)
            outside = Outside(str(record["netns"]), gateway_of(stored_property(
                settings, NETWORK_CONFIGURATION.name)), port)
        vpc = vpc_host.VpcHost(
            settings, zookeeper=stored_property(settings, ZOOKEEPER.name),
            netns=str(record["netns"]), guest_bridges=True, underlay=args.vpc_underlay,
            outside_gateway=outside.address if outside is not None else "",
            region=result.zones[0].rsplit("-", 1)[0] if result.zones else "eucalyptus")
        try:
            if outside is not None:
                outside.start()
                settings = dataclasses.replace(settings, guest_endpoint=outside.guest_endpoint)
                record.update(guest_endpoint=outside.guest_endpoint)
            record.update(zookeeper=vpc.start(), vpc_agent_pid=vpc.proc.pid if vpc.proc else 0)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            vpc.stop()
            if outside is not None:
                outside.stop()
            if daemon is not None:
                daemon.stop()
            return _fail(f"the VPC host agent did not start: {exc}")

    endpoint = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    record["endpoint"] = endpoint
    supervisor = Supervisor(daemon) if daemon is not None else None

    def ready() -> None:
        endpoint_mod.record(settings, endpoint)
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        (settings.run_dir / "up.json").write_text(json.dumps(record, indent=2) + "\n")
        lines = [f"cloud is up on {endpoint} (role {role})",
                 f"  API endpoint     {endpoint} (recorded in {endpoint_mod.endpoint_file(settings)})",
                 f"  node             {node_text}"]
        lines.append(f"  network mode     {net_text}")
        if "vpc_agent_pid" in record:
            lines.append(f"  VPC data plane   ZooKeeper {record['zookeeper']}, host agent pid "
                         f"{record['vpc_agent_pid']} (log {vpc_host.agent_log(settings)})")
        if "guest_endpoint" in record:
            lines.append(f"  guest endpoint   {record['guest_endpoint']} (the API on the outside "
                         "network: instances with a public address reach it)")
        if "libvirt_socket" in record:
            lines.append(f"  libvirtd socket  {record['libvirt_socket']}")
        if record["netns"]:
            lines.append(f"  network ns       {record['netns']} "
                         "(guests: cloudctl instance ssh i-... -i KEY.pem)")
        lines += [f"  data dir         {settings.data_dir}",
                  f"  admin key        {result.admin_key.access_key_id}",
                  f"  credentials:     cloudctl --data-dir {settings.data_dir} credentials "
                  "--account eucalyptus --user admin --format aws"]
        print("\n".join(lines), flush=True)

    def clean_up() -> None:
        endpoint_mod.forget(settings, endpoint)
        if vpc is not None:
            vpc.stop()
        if outside is not None:
            outside.stop()
        if supervisor is not None and daemon is not None:
            supervisor.stop()
            _teardown_network(settings, daemon.netns)
            daemon.stop()
            log.info("private libvirtd stopped")

    if supervisor is not None:
        supervisor.start()
    try:
        from cloudctl.services.catalog import assemble, preload

        return serve(settings, assemble, host, port, workers=args.workers, on_ready=ready,
                     prepare=preload, role=role, on_stuck=clean_up)
    finally:
        clean_up()


def add_parser(sub: Any, parse_listen: Any) -> None:
    p = sub.add_parser("up", help="run the cloud in the foreground")
    p.add_argument("--listen", type=parse_listen, default=None,
                   help="HOST:PORT (default 127.0.0.1 and bootstrap.webservices.port, 8773)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--region", default=None, help="region of a new cloud (default eucalyptus; "
                   "an initialised cloud keeps its own)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--event-loop", choices=EVENT_LOOPS, default=None,
                   help="the API processes' event loop: uvloop (default) or asyncio "
                        "(asyncio's own loop); CLOUDCTL_EVENT_LOOP sets it too")
    p.add_argument("--role", choices=ROLES, default=Role.ALL.value,
                   help="what this host runs: all (the all-in-one cloud, default), api (the "
                        "AWS APIs and the metadata service, no controllers) or controllers "
                        "(the controllers and the node, no API); see docs/multi-host.md")
    p.add_argument("--network-mode", type=str.upper, choices=NETWORK_MODES, default=None,
                   help="network mode of a new cloud: VPC (default; a default VPC per "
                        "account) or EDGE; an initialised cloud keeps its own (switch with "
                        "cloudctl property set cloud.network.network_configuration)")
    p.add_argument("--node", choices=NODE_MODES, default=None,
                   help="the all-in-one node: private (default: QEMU guests on a private "
                        "libvirtd under the data dir), libvirt (an existing libvirtd at "
                        "cloud.node.libvirt_uri), fake (fake guests, for tests) or none; "
                        "CLOUDCTL_LOCAL_NODE and the cloud.node.local property set it too")
    p.add_argument("--vpc-underlay", type=vpc_host.parse_underlay,
                   default=os.environ.get("CLOUDCTL_VPC_UNDERLAY", ""),
                   metavar="ADDRESS@DEV",
                   help="VPC mode: this host's underlay address and device (in the node's "
                        "namespace) that carry the VPC overlay (VXLAN) to the other "
                        "hypervisor hosts (default 127.0.0.1@lo: one host; "
                        "CLOUDCTL_VPC_UNDERLAY sets it too); see docs/multi-host.md")
    p.set_defaults(func=run_up)

