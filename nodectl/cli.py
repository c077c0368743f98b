"""The ``nodectl`` command: operate the node agent's local pieces by hand.

Subcommands: ``libvirtd start|stop|status --state DIR`` (the private libvirtd),
``image build --out DIR`` (the tiny guest), ``instances --uri URI`` (our domains).
It never imports the cloud controller.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
