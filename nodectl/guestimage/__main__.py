"""CLI: ``python -m nodectl.guestimage build --out DIR [--cache DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nodectl.guestimage.builder import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodectl.guestimage")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build kernel, ramdisk and rootfs.img into --out")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--cache", type=Path, default=None, help="artefact cache dir")
    b.add_argument("--kernel-cache", type=Path, default=None, help="unpacked kernel dir")
    args = parser.parse_args(argv)
    started = time.monotonic()
    image = build(args.out, args.cache, args.kernel_cache)
    print(f"kernel  {image.kernel}")
    print(f"ramdisk {image.ramdisk}")
    print(f"rootfs  {image.rootfs}")
    print(f"cmdline {image.kernel_cmdline}")
    print(f"built in {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
