"""LocalNodeClient on the real LibvirtDriver: the tiny guest through the NodeClient contract.

ensure -> running (artifacts staged from file:// URLs into the image cache), the
console shows the first line, a volume hot-plugs and unplugs by volume id, stop
(ACPI) -> stopped with the disks kept, ensure -> running again, delete -> no
domain, no file, no QEMU left. One TCG guest at a time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from nodectl.client import Artifact, InstanceSpec, VolumeSpec  # noqa: E402
from nodectl.driver.libvirt_driver import LibvirtDriver  # noqa: E402
from nodectl.guestimage import GuestImage  # noqa: E402
from nodectl.imagecache import ImageCache  # noqa: E402
from nodectl.libvirtd import PrivateLibvirtd  # noqa: E402
from nodectl.local import LocalNodeClient  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root (scripts/deps/node.sh)"),
    pytest.mark.asyncio(loop_scope="session"),
]

IID = "i-0000a6e7"


async def _wait_for(predicate: Callable[[], object], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await asyncio.to_thread(predicate):
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _qemus(daemon: PrivateLibvirtd) -> list[int]:
    rec = daemon.running()
    assert rec is not None
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if (os.readlink(f"/proc/{entry}/ns/mnt") == rec.mnt_ns
                        and "qemu-system" in os.readlink(f"/proc/{entry}/exe")
                        # this test's guest only: the libvirtd is shared by the session
                        and f"guest={IID}".encode()
                        in Path(f"/proc/{entry}/cmdline").read_bytes()):
                    found.append(int(entry))
            except OSError:
                continue
    return found


async def test_instance_lifecycle_through_the_contract(
        private_libvirtd: PrivateLibvirtd, tiny_image: GuestImage, tmp_path: Path) -> None:
    images = ImageCache(tmp_path / "images")
    driver = LibvirtDriver(private_libvirtd.uri, images)
    node = LocalNodeClient(driver, images, "itest", stop_grace=60.0)
    spec = InstanceSpec(
        instance_id=IID,
        kernel=Artifact("eki-t1", "kernel", url=tiny_image.kernel.as_uri()),
        ramdisk=Artifact("eri-t1", "ramdisk", url=tiny_image.ramdisk.as_uri()),
        image=Artifact("emi-t1", "machine", url=tiny_image.rootfs.as_uri()),
        cmdline=tiny_image.kernel_cmdline, memory_mib=128,
    )
    timings: dict[str, float] = {}
    try:
        t = time.monotonic()
        status = await node.ensure_instance(spec)
        timings["ensure (stage + define + start)"] = time.monotonic() - t
        assert status.power == "running"
        assert (await node.ensure_instance(spec)).power == "running"  # idempotent
        assert len(_qemus(private_libvirtd)) == 1

        def console() -> str:
            return driver.console_output(IID)

        timings["first console line"] = await _wait_for(lambda: console().strip(), 30,
                                                        "the first console line")
        assert (await node.console_output(IID)).strip()
        timings["ssh ready"] = await _wait_for(lambda: "cloud-init: ssh ready" in console(),
                                               180, "the guest to finish booting")

        vol = tmp_path / "vol.raw"
        vol.write_bytes(b"\0" * 8 * 1024 * 1024)
        volume = VolumeSpec("vol-0123456789abcdef0", "vdc", {"type": "file", "path": str(vol)})
        await node.attach_volume(IID, volume)
        assert (await node.list_instances())[0].volumes == (volume.volume_id,)
        await asyncio.sleep(0.5)
        await node.detach_volume(IID, volume.volume_id)
        assert (await node.list_instances())[0].volumes == ()

        overlay = images.instance_dir(IID) / "root.qcow2"
        t = time.monotonic()
        stopped = await node.stop_instance(IID)
        timings["stop (ACPI)"] = time.monotonic() - t
        assert stopped.power == "stopped"
        assert overlay.exists() and images.base_path("emi-t1").exists()
        await _wait_for(lambda: _qemus(private_libvirtd) == [], 10, "QEMU to exit")

        before = len(console())
        t = time.monotonic()
        assert (await node.ensure_instance(spec)).power == "running"
        timings["ensure (start stopped)"] = time.monotonic() - t
        timings["first line after restart"] = await _wait_for(
            lambda: len(console()) > before, 30, "the second boot's console")

        t = time.monotonic()
        await node.delete_instance(IID)
        timings["delete"] = time.monotonic() - t
        assert await node.list_instances() == []
        assert not images.instance_dir(IID).exists()
        with pytest.raises(libvirt.libvirtError):
            driver._conn.lookupByName(IID)
        await _wait_for(lambda: _qemus(private_libvirtd) == [], 10, "QEMU to exit")
        await node.delete_instance(IID)
    finally:
        await node.delete_instance(IID)
        driver.close()
        print("\ntimings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
