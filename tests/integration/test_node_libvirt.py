"""The node driver against a real private libvirtd: a TCG guest boots and goes away.

Boots one tiny guest (128 MiB, TCG): kernel + initramfs + qcow2 overlay on the
rootfs, a NIC on a bridge inside the libvirtd's own network namespace, no
metadata server (cloud-init must say it tried and carry on). Then hot-plug,
ACPI poweroff, destroy, and nothing may be left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from nodectl.domain import Disk, FileSource, Nic  # noqa: E402
from nodectl.driver import ImageRef, InstanceSpec, InstanceState  # noqa: E402
from nodectl.driver.libvirt_driver import LibvirtDriver  # noqa: E402
from nodectl.guestimage import GuestImage, build  # noqa: E402
from nodectl.imagecache import ImageCache  # noqa: E402
from nodectl.libvirtd import PrivateLibvirtd  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root (scripts/deps/node.sh)"),
]

IID = "i-0000beef"


@pytest.fixture(scope="module")
def private_libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateLibvirtd]:
    daemon = PrivateLibvirtd(tmp_path_factory.mktemp("libvirtd"))
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> GuestImage:
    return build(tmp_path_factory.mktemp("guestimage"))


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _qemus_in_daemon(daemon: PrivateLibvirtd) -> list[int]:
    rec = daemon.running()
    assert rec is not None
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if (os.readlink(f"/proc/{entry}/ns/mnt") == rec.mnt_ns
                    and "qemu-system" in os.readlink(f"/proc/{entry}/exe")):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def test_start_is_idempotent(private_libvirtd: PrivateLibvirtd) -> None:
    first = private_libvirtd.running()
    assert first is not None
    assert private_libvirtd.start() == first
    assert Path("/run/netns", private_libvirtd.netns).exists()
    conn = libvirt.open(private_libvirtd.uri)
    try:
        assert conn.getType() == "QEMU"
    finally:
        conn.close()


def test_tcg_guest_boots_and_is_cleaned_up(private_libvirtd: PrivateLibvirtd,
                                           tiny_image: GuestImage, tmp_path: Path) -> None:
    netns = private_libvirtd.netns
    subprocess.run(["ip", "-n", netns, "link", "add", "br-test", "type", "bridge"], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", "br-test", "up"], check=True)
    driver = LibvirtDriver(private_libvirtd.uri, ImageCache(tmp_path / "images"))
    try:
        spec = InstanceSpec(
            instance_id=IID,
            image=ImageRef("emi-tiny", tiny_image.rootfs),
            kernel=ImageRef("eki-tiny", tiny_image.kernel),
            ramdisk=ImageRef("eri-tiny", tiny_image.ramdisk),
            cmdline=tiny_image.kernel_cmdline,
            memory_mib=128,
            nics=(Nic("d0:0d:00:00:be:ef", "br-test"),),
        )
        driver.spawn(spec)
        assert driver.list_instances() == [IID]
        assert driver.instance_state(IID) is InstanceState.RUNNING
        overlay = driver.images.instance_dir(IID) / "root.qcow2"
        assert overlay.exists()

        def console() -> str:
            return driver.console_output(IID)

        _wait_for(lambda: console().strip() != "", 30, "the first console line")
        _wait_for(lambda: "cloud-init: metadata unavailable" in console(), 90,
                  "cloud-init's metadata attempt")
        _wait_for(lambda: "cloud-init: ssh ready" in console(), 30, "dropbear")
        out = console()
        assert "cloud-init: fetching metadata from http://169.254.169.254/" in out
        assert "cloud-init: eth0 dhcp failed" in out  # a NIC, but no DHCP server here

        stats = driver.stats(IID)
        assert stats.cpu_time_ns > 0 and "vda" in stats.block

        vol = tmp_path / "vol.raw"
        vol.write_bytes(b"\0" * 16 * 1024 * 1024)
        driver.attach_disk(IID, Disk("vdc", FileSource(str(vol))))
        assert "vdc" in [d.target for d in driver.get_domain(IID).disks]
        time.sleep(0.5)  # let the guest finish probing the new disk
        driver.detach_disk(IID, "vdc", timeout=15)
        assert "vdc" not in [d.target for d in driver.get_domain(IID).disks]

        driver.shutdown(IID)  # ACPI power button -> busybox acpid -> poweroff
        _wait_for(lambda: driver.instance_state(IID) is InstanceState.SHUTOFF, 30,
                  "ACPI poweroff")

        driver.destroy(IID)
        driver.destroy(IID)
        assert driver.list_instances() == []
        assert not overlay.exists()
        assert not driver.images.instance_dir(IID).exists()
        with pytest.raises(libvirt.libvirtError):
            driver._conn.lookupByName(IID)
        assert _qemus_in_daemon(private_libvirtd) == []
    finally:
        driver.destroy(IID)
        driver.close()


def _pids_named(daemon: PrivateLibvirtd, name: str) -> list[int]:
    rec = daemon.running()
    mnt_ns = rec.mnt_ns if rec is not None else None
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if (os.readlink(f"/proc/{entry}/ns/mnt") == mnt_ns
                    and os.path.basename(os.readlink(f"/proc/{entry}/exe")) == name):
                out.append(int(entry))
        except OSError:
            continue
    return out


def test_guest_survives_libvirtd_kill(private_libvirtd: PrivateLibvirtd,
                                      tiny_image: GuestImage, tmp_path: Path) -> None:
    iid = "i-0000dead"
    images = ImageCache(tmp_path / "images")
    driver = LibvirtDriver(private_libvirtd.uri, images)
    try:
        driver.spawn(InstanceSpec(
            instance_id=iid,
            image=ImageRef("emi-tiny", tiny_image.rootfs),
            kernel=ImageRef("eki-tiny", tiny_image.kernel),
            ramdisk=ImageRef("eri-tiny", tiny_image.ramdisk),
            cmdline=tiny_image.kernel_cmdline,
        ))
        _wait_for(lambda: driver.console_output(iid).strip() != "", 30, "first console line")
        before = private_libvirtd.running()
        assert before is not None
        [libvirtd_pid] = _pids_named(private_libvirtd, "libvirtd")
        qemus = _qemus_in_daemon(private_libvirtd)
        assert len(qemus) == 1
    finally:
        driver.close()

    os.kill(libvirtd_pid, 9)
    _wait_for(lambda: private_libvirtd.running() is None, 10, "tini to exit")
    after = private_libvirtd.start()  # re-attaches in the same namespaces
    assert after.mnt_ns == before.mnt_ns and after.tini_pid != before.tini_pid

    driver = LibvirtDriver(private_libvirtd.uri, images)
    try:
        assert driver.list_instances() == [iid]
        assert driver.instance_state(iid) is InstanceState.RUNNING
        assert _qemus_in_daemon(private_libvirtd) == qemus  # the same QEMU process
        driver.destroy(iid)
        assert driver.list_instances() == []
        assert not images.instance_dir(iid).exists()
        _wait_for(lambda: _qemus_in_daemon(private_libvirtd) == [], 10, "QEMU to exit")
    finally:
        driver.destroy(iid)
        driver.close()
