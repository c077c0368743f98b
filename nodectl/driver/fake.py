"""The shipped fake ComputeDriver: libvirt's ``test://`` driver, no daemon, no guests.

It is the real libvirt API (and so the real ``LibvirtDriver`` code) over
libvirt's in-memory hypervisor, with a fresh private state per instance (a
``test:///<dir>/node.xml`` URI). Where the test driver lacks a feature it is
emulated here, and only here:

- disk hot-plug: ``attach_disk``/``detach_disk`` edit the persistent definition,
  and ``get_domain`` reads the persistent definition;
- the console: ``spawn`` writes the lines a booted tiny guest would print;
- hard reboot: a no-op that keeps the domain running.

Disk staging uses a real ``ImageCache`` (qcow2 overlays are cheap).
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from nodectl.domain import Disk, Domain, disk_to_element
from nodectl.driver.base import DriverError
from nodectl.driver.libvirt_driver import LibvirtDriver
from nodectl.imagecache import ImageCache

__all__ = ["FakeDriver"]

_EMPTY_NODE = "<node/>\n"


class FakeDriver(LibvirtDriver):
    """A ComputeDriver on a fresh ``test://`` hypervisor."""

    def __init__(self, images: ImageCache | None = None, state_dir: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nodectl-fake-")
            state_dir = Path(self._tmp.name)
        state_dir.mkdir(parents=True, exist_ok=True)
        node = state_dir / "node.xml"
        node.write_text(_EMPTY_NODE)
        super().__init__(f"test://{node}", images or ImageCache(state_dir / "images"), "qemu")

    def _after_start(self, domain: Domain) -> None:
        if domain.console_log is None:
            return
        with open(domain.console_log, "a") as f:
            f.write("fake: booted by nodectl.driver.fake\n")
            f.write(f"cloud-init: instance-id {domain.instance_id}\n")
            f.write("cloud-init: ssh ready\n")

    def get_domain(self, instance_id: str) -> Domain:
        dom = self._lookup(instance_id)
        return Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))

    def _redefine(self, instance_id: str, edit_devices: ET.Element) -> None:
        self._conn.defineXML(ET.tostring(edit_devices, encoding="unicode"))

    def attach_disk(self, instance_id: str, disk: Disk) -> None:
        dom = self._lookup(instance_id)
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        devices = root.find("devices")
        if devices is None:
            devices = ET.SubElement(root, "devices")
        for existing in devices.findall("disk/target"):
            if existing.get("dev") == disk.target:
                raise DriverError(f"target {disk.target} already in use on {instance_id}")
        devices.append(disk_to_element(disk))
        self._redefine(instance_id, root)

    def detach_disk(self, instance_id: str, target: str, timeout: float = 10.0) -> None:
        dom = self._lookup(instance_id)
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        devices = root.find("devices")
        if devices is None:
            return
        for disk in devices.findall("disk"):
            t = disk.find("target")
            if t is not None and t.get("dev") == target:
                devices.remove(disk)
                self._redefine(instance_id, root)
                return

    def reboot(self, instance_id: str, hard: bool = False) -> None:
        if hard:
            self._lookup(instance_id)
            return
        super().reboot(instance_id, hard)

    def close(self) -> None:
        super().close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
