"""The driver contract, exercised on the shipped fake (libvirt's test:// driver)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")

from nodectl.domain import Disk, Domain, FileSource, OsBoot  # noqa: E402
from nodectl.driver import (  # noqa: E402
    DriverError,
    ImageRef,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    LifecycleEvent,
)
from nodectl.driver.fake import FakeDriver  # noqa: E402


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[FakeDriver]:
    d = FakeDriver(state_dir=tmp_path / "fake")
    yield d
    d.close()


def _spec(tmp_path: Path, iid: str = "i-00000001", **kw: object) -> InstanceSpec:
    for name in ("rootfs.img", "kernel", "ramdisk"):
        p = tmp_path / name
        if not p.exists():
            p.write_bytes(b"\0" * 65536)
    return InstanceSpec(
        instance_id=iid,
        image=ImageRef("emi-1", tmp_path / "rootfs.img"),
        kernel=ImageRef("eki-1", tmp_path / "kernel"),
        ramdisk=ImageRef("eri-1", tmp_path / "ramdisk"),
        **kw,  # type: ignore[arg-type]
    )


def test_spawn_runs_and_is_tagged(driver: FakeDriver, tmp_path: Path) -> None:
    dom = driver.spawn(_spec(tmp_path, ephemeral_mib=8))
    assert driver.list_instances() == ["i-00000001"]
    assert driver.instance_state("i-00000001") is InstanceState.RUNNING
    assert dom.instance_id == "i-00000001"
    assert [d.target for d in driver.get_domain("i-00000001").disks] == ["vda", "vdb"]
    assert "cloud-init: instance-id i-00000001" in driver.console_output("i-00000001")
    assert driver.spawn(_spec(tmp_path, ephemeral_mib=8)).name == "i-00000001"  # no-op


def test_destroy_is_idempotent_and_leaves_nothing(driver: FakeDriver, tmp_path: Path) -> None:
    driver.spawn(_spec(tmp_path))
    inst_dir = driver.images.instance_dir("i-00000001")
    assert (inst_dir / "root.qcow2").exists()
    driver.destroy("i-00000001")
    driver.destroy("i-00000001")
    assert driver.list_instances() == []
    assert not inst_dir.exists()
    with pytest.raises(InstanceNotFound):
        driver.instance_state("i-00000001")


def test_failed_spawn_cleans_up(driver: FakeDriver, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    broken = InstanceSpec(spec.instance_id, ImageRef("emi-2", tmp_path / "missing"),
                          spec.kernel, spec.ramdisk)
    with pytest.raises(DriverError):
        driver.spawn(broken)
    assert driver.list_instances() == []
    assert not driver.images.instance_dir(spec.instance_id).exists()


def test_foreign_domains_are_invisible_and_untouched(driver: FakeDriver) -> None:
    foreign = Domain(name="not-ours", os=OsBoot("/k"))
    driver._conn.defineXML(foreign.to_xml())
    assert driver.list_instances() == []
    with pytest.raises(DriverError):
        driver.destroy("not-ours")
    assert driver._conn.lookupByName("not-ours") is not None


def test_attach_detach(driver: FakeDriver, tmp_path: Path) -> None:
    driver.spawn(_spec(tmp_path))
    driver.attach_disk("i-00000001", Disk("vdc", FileSource(str(tmp_path / "vol.raw"))))
    assert "vdc" in [d.target for d in driver.get_domain("i-00000001").disks]
    with pytest.raises(DriverError):
        driver.attach_disk("i-00000001", Disk("vdc", FileSource("/other")))
    driver.detach_disk("i-00000001", "vdc")
    driver.detach_disk("i-00000001", "vdc")
    assert "vdc" not in [d.target for d in driver.get_domain("i-00000001").disks]


def test_stats_and_reboot(driver: FakeDriver, tmp_path: Path) -> None:
    driver.spawn(_spec(tmp_path, memory_mib=96))
    stats = driver.stats("i-00000001")
    assert stats.state is InstanceState.RUNNING and stats.memory_kib == 96 * 1024
    assert "vda" in stats.block
    driver.reboot("i-00000001")
    driver.reboot("i-00000001", hard=True)
    assert driver.instance_state("i-00000001") is InstanceState.RUNNING


def test_lifecycle_events(driver: FakeDriver, tmp_path: Path) -> None:
    seen: list[LifecycleEvent] = []
    done = threading.Event()

    def on_event(ev: LifecycleEvent) -> None:
        seen.append(ev)
        if ev.detail == "undefined":
            done.set()

    sub = driver.subscribe(on_event)
    driver.spawn(_spec(tmp_path))
    driver.destroy("i-00000001")
    assert done.wait(5)
    details = [e.detail for e in seen]
    assert details.index("started") < details.index("stopped") < details.index("undefined")
    sub.cancel()
    sub.cancel()
