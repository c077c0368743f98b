"""Build the project's tiny guest from Debian packages only.

Owns three artefacts and their cache:

- ``kernel``: the Debian cloud kernel's vmlinuz (the "eki");
- ``ramdisk``: a gzip'd busybox-static initramfs that loads the virtio modules
  and switches to the root disk (the "eri");
- ``rootfs.img``: a raw ext4 disk (``mke2fs -d``) holding busybox, dropbear with
  its libraries, and a shell cloud-init (the "emi").

The cache key hashes every input (guest scripts, this builder, busybox, dropbear
and its libraries, the kernel); a rebuild with unchanged inputs only copies. It
never installs packages on the host or downloads anything but Debian packages.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nodectl.guestimage.cpio import CpioWriter
from nodectl.guestimage.kernel import CloudKernel, ensure_kernel

__all__ = ["GuestImage", "build", "default_image_cache"]

BUILDER_VERSION = "1"
BUSYBOX = Path("/usr/bin/busybox")
DROPBEAR = Path("/usr/sbin/dropbear")
VIRTIO_MODULES = (
    "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
    "virtio_blk", "failover", "net_failover", "virtio_net",
)
ROOTFS_MODULES = ("evdev", "button")
ROOTFS_SIZE_MIB = 64
STAMP = ".nodectl-guestimage"

INITTAB = """\
::sysinit:/etc/init.d/rcS
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
"""
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"
SHADOW = "root:*:19000:0:99999:7:::\n"


@dataclass(frozen=True)
class GuestImage:
    """The three files of a built guest."""

    kernel: Path
    ramdisk: Path
    rootfs: Path
    kernel_cmdline: str = "console=ttyS0 root=/dev/vda rootfstype=ext4 panic=-1"


def default_image_cache() -> Path:
    return Path(os.environ.get("NODECTL_IMAGE_CACHE", "/var/cache/nodectl/guestimage"))


def _guest_file(name: str) -> bytes:
    return (resources.files("nodectl.guestimage.files") / name).read_bytes()


def _shared_libs(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    libs: list[Path] = []
    for line in out.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _cache_key(kernel: CloudKernel) -> str:
    h = hashlib.sha256(BUILDER_VERSION.encode())
    pkg = resources.files("nodectl.guestimage")
    for name in ("builder.py", "cpio.py"):
        h.update((pkg / name).read_bytes())
    for entry in sorted((pkg / "files").iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".sh", ".py")):
            h.update(entry.name.encode() + entry.read_bytes())
    for path in [BUSYBOX, DROPBEAR, *_shared_libs(DROPBEAR)]:
        st = path.stat()
        h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    st = kernel.vmlinuz.stat()
    h.update(f"{kernel.version}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _build_ramdisk(kernel: CloudKernel, dest: Path) -> None:
    cpio = CpioWriter()
    for d in ("bin", "sbin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"):
        cpio.directory(d)
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3, 0o666)
    cpio.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in ("sh", "mount", "umount", "insmod", "switch_root", "sleep", "cat",
                   "echo", "mkdir", "ls"):
        cpio.symlink(f"bin/{applet}", "busybox")
    for mod in VIRTIO_MODULES:
        cpio.file(f"lib/modules/{mod}.ko", kernel.module(mod).read_bytes())
    cpio.file("init", _guest_file("initramfs-init.sh"), 0o755)
    dest.write_bytes(gzip.compress(cpio.getvalue(), compresslevel=6, mtime=0))


def _install(src: Path, root: Path, dest: str | None = None, mode: int = 0o755) -> None:
    target = root / (dest or str(src)).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.resolve(), target)
    target.chmod(mode)


def _write(root: Path, dest: str, data: bytes | str, mode: int = 0o644) -> None:
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    target.chmod(mode)


def _stage_rootfs(kernel: CloudKernel, root: Path) -> None:
    for d in ("dev", "proc", "sys", "run", "tmp", "root", "etc/dropbear", "var/log",
              "lib/modules", "usr/bin", "usr/sbin", "bin", "sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "root").chmod(0o700)
    (root / "tmp").chmod(0o1777)
    _install(BUSYBOX, root, "/bin/busybox")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        link = root / applet
        if applet in ("bin/busybox", "linuxrc") or link.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath("/bin/busybox", "/" + str(Path(applet).parent)))
    _install(DROPBEAR, root, "/usr/sbin/dropbear")
    for lib in _shared_libs(DROPBEAR):
        _install(lib, root)
    for mod in ROOTFS_MODULES:
        _install(kernel.module(mod), root, f"/lib/modules/{mod}.ko", 0o644)
    _write(root, "etc/inittab", INITTAB)
    _write(root, "etc/passwd", PASSWD)
    _write(root, "etc/group", GROUP)
    _write(root, "etc/shadow", SHADOW, 0o600)
    _write(root, "etc/shells", "/bin/sh\n")
    _write(root, "etc/hostname", "nodectl-guest\n")
    _write(root, "etc/init.d/rcS", _guest_file("rcS.sh"), 0o755)
    _write(root, "etc/init.d/cloud-init", _guest_file("cloud-init.sh"), 0o755)
    _write(root, "etc/udhcpc.script", _guest_file("udhcpc.sh"), 0o755)
    _write(root, "etc/acpi/PWRF/00000080", _guest_file("acpi-poweroff.sh"), 0o755)


def _build_rootfs(kernel: CloudKernel, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "root"
        _stage_rootfs(kernel, staging)
        subprocess.run(
            ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "nodectl-root", "-d", str(staging),
             str(dest), f"{ROOTFS_SIZE_MIB}M"],
            check=True, capture_output=True,
        )


def _populate_cache(kernel: CloudKernel, entry: Path) -> None:
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(kernel.vmlinuz, tmp / "kernel")
    _build_ramdisk(kernel, tmp / "ramdisk")
    _build_rootfs(kernel, tmp / "rootfs.img")
    try:
        tmp.rename(entry)
    except OSError:  # a concurrent build won the race
        shutil.rmtree(tmp, ignore_errors=True)


def build(out: Path, cache: Path | None = None, kernel_cache: Path | None = None) -> GuestImage:
    """Build (or copy from the cache) the tiny guest into ``out``."""
    kernel = ensure_kernel(kernel_cache)
    key = _cache_key(kernel)
    image = GuestImage(out / "kernel", out / "ramdisk", out / "rootfs.img")
    stamp = out / STAMP
    if stamp.exists() and stamp.read_text().strip() == key and all(
        p.exists() for p in (image.kernel, image.ramdisk, image.rootfs)
    ):
        return image
    entry = (cache or default_image_cache()) / key
    if not (entry / "rootfs.img").exists():
        _populate_cache(kernel, entry)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("kernel", "ramdisk", "rootfs.img"):
        subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(entry / name),
                        str(out / name)], check=True)
    stamp.write_text(key + "\n")
    return image
