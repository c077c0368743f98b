"""The ``nodectl`` command: operate the node agent's local pieces by hand.

Subcommands: ``libvirtd start|stop|status --state DIR`` (the private libvirtd),
``image build --out DIR`` (the tiny guest), ``instances --uri URI`` (our domains),
``agent --listen HOST:PORT --state DIR --ca --cert --key`` (the node agent's
HTTP/JSON API over mutual TLS, ``nodectl.agent``). It never imports the cloud
controller.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_STATE = Path("/var/lib/nodectl/libvirtd")


def _libvirtd(args: argparse.Namespace) -> int:
    from nodectl.libvirtd import PrivateLibvirtd

    daemon = PrivateLibvirtd(args.state)
    if args.action == "start":
        rec = daemon.start()
        print(f"uri {rec.uri}\nnetns {rec.netns}\npid {rec.tini_pid}")
    elif args.action == "stop":
        daemon.stop()
    else:
        found = daemon.running()
        print("stopped" if found is None else f"running pid {found.tini_pid} uri {found.uri}")
        return 0 if found is not None else 3
    return 0


def _image(args: argparse.Namespace) -> int:
    from nodectl.guestimage.__main__ import main as image_main

    return image_main(["build", "--out", str(args.out)])


def _instances(args: argparse.Namespace) -> int:
    from nodectl.driver.libvirt_driver import LibvirtDriver
    from nodectl.imagecache import ImageCache

    driver = LibvirtDriver(args.uri, ImageCache(args.images))
    try:
        for iid in driver.list_instances():
            print(iid, driver.instance_state(iid).value)
    finally:
        driver.close()
    return 0


def _parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}") from None


def _agent(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import socket

    from nodectl.agent import run_agent
    from nodectl.driver.base import ComputeDriver
    from nodectl.imagecache import ImageCache
    from nodectl.local import LocalNodeClient
    from nodectl.tls import server_context

    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    images = ImageCache(state / "images")
    driver: ComputeDriver
    if args.driver == "fake":
        from nodectl.driver.fake import FakeDriver

        driver = FakeDriver(images, state / "fake")
    else:
        from nodectl.driver.libvirt_driver import LibvirtDriver

        uri = args.libvirt_uri
        if uri is None:
            from nodectl.libvirtd import PrivateLibvirtd

            uri = PrivateLibvirtd(state / "libvirtd").start().uri
        driver = LibvirtDriver(uri, images, args.virt_type)
    host, port = args.listen
    node = LocalNodeClient(driver, images, args.name or socket.gethostname(),
                           address=host, bundle_key=args.bundle_key,
                           stop_grace=args.stop_grace)

    def ready(bound: int) -> None:
        print(f"nodectl agent {node.name} listening on https://{host}:{bound}/v1 "
              f"(driver {args.driver})", flush=True)

    try:
        asyncio.run(run_agent(node, host, port, server_context(args.ca, args.cert, args.key),
                              on_ready=ready))
    finally:
        driver.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # disks, overlays, console logs and state: owner-only
    parser = argparse.ArgumentParser(prog="nodectl")
    sub = parser.add_subparsers(dest="command", required=True)
    lv = sub.add_parser("libvirtd", help="the private libvirtd")
    lv.add_argument("action", choices=["start", "stop", "status"])
    lv.add_argument("--state", type=Path, default=DEFAULT_STATE)
    lv.set_defaults(func=_libvirtd)
    im = sub.add_parser("image", help="the tiny guest image")
    im.add_argument("action", choices=["build"])
    im.add_argument("--out", type=Path, required=True)
    im.set_defaults(func=_image)
    inst = sub.add_parser("instances", help="list our domains")
    inst.add_argument("--uri", required=True)
    inst.add_argument("--images", type=Path, default=Path("/var/lib/nodectl/images"))
    inst.set_defaults(func=_instances)
    ag = sub.add_parser("agent", help="run the node agent (HTTP/JSON over mutual TLS)")
    ag.add_argument("--listen", type=_parse_listen, default=("127.0.0.1", 8775))
    ag.add_argument("--state", type=Path, default=Path("/var/lib/nodectl"))
    ag.add_argument("--ca", type=Path, required=True, help="cloud CA certificate")
    ag.add_argument("--cert", type=Path, required=True, help="this agent's certificate")
    ag.add_argument("--key", type=Path, required=True, help="this agent's private key")
    ag.add_argument("--driver", choices=["libvirt", "fake"], default="libvirt")
    ag.add_argument("--libvirt-uri", default=None,
                    help="default: a private libvirtd under STATE/libvirtd")
    ag.add_argument("--virt-type", choices=["qemu", "kvm"], default="qemu")
    ag.add_argument("--bundle-key", type=Path, default=None,
                    help="RSA key that unwraps image bundle keys (cloud-bundle.key)")
    ag.add_argument("--name", default=None)
    ag.add_argument("--stop-grace", type=float, default=30.0)
    ag.add_argument("--log-level", default="INFO")
    ag.set_defaults(func=_agent)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
