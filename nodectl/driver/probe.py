"""Choose the domain type: 'qemu' (TCG) unless KVM is shown to boot a guest.

Owns the ``NODECTL_VIRT_TYPE`` setting: 'qemu' (default), 'kvm', or 'auto'
(probe). The probe boots the tiny guest once with ``type='kvm'`` and accepts KVM
only if the guest reaches its cloud-init marker; on these hosts /dev/kvm exists
but stock kernels die under it, so existence of /dev/kvm proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import libvirt

from nodectl.domain import Disk, Domain, FileSource, OsBoot, VirtType

__all__ = ["probe_kvm", "virt_type_setting"]

PROBE_MARKER = "cloud-init: start"


def probe_kvm(uri: str, kernel: Path, ramdisk: Path, rootfs: Path, cmdline: str,
              timeout: float = 20.0) -> bool:
    """True if a transient KVM guest boots to ``PROBE_MARKER`` within ``timeout``."""
    if not os.path.exists("/dev/kvm"):
        return False
    conn = libvirt.open(uri)
    with tempfile.TemporaryDirectory(prefix="nodectl-probe-") as tmp:
        console = Path(tmp) / "console.log"
        overlay = Path(tmp) / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(rootfs), "-F", "raw",
                        str(overlay)], check=True, capture_output=True)
        domain = Domain(
            name=f"nodectl-kvm-probe-{uuid.uuid4().hex[:8]}", virt_type="kvm",
            os=OsBoot(str(kernel), str(ramdisk), cmdline),
            disks=(Disk("vda", FileSource(str(overlay), "qcow2")),),
            console_log=str(console), tb_cache_mib=None,
        )
        try:
            dom = conn.createXML(domain.to_xml(), 0)
        except libvirt.libvirtError:
            conn.close()
            return False
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if console.exists() and PROBE_MARKER in console.read_text(errors="replace"):
                    return True
                if not dom.isActive():
                    return False
                time.sleep(0.2)
            return False
        finally:
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass
            conn.close()


def virt_type_setting(uri: str | None = None, image_dir: Path | None = None,
                      cmdline: str = "console=ttyS0 root=/dev/vda rootfstype=ext4") -> VirtType:
    """The configured domain type; 'auto' probes (needs ``uri`` and ``image_dir``)."""
    value = os.environ.get("NODECTL_VIRT_TYPE", "qemu")
    if value == "kvm":
        return "kvm"
    if value == "auto" and uri is not None and image_dir is not None:
        ok = probe_kvm(uri, image_dir / "kernel", image_dir / "ramdisk",
                       image_dir / "rootfs.img", cmdline)
        return "kvm" if ok else "qemu"
    return "qemu"
