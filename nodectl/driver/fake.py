"""The shipped fake ComputeDriver: libvirt's ``test://`` driver, no daemon, no guests.

It is the real libvirt API (and so the real ``LibvirtDriver`` code) over
libvirt's in-memory hypervisor, with a fresh private state per instance (a
``test:///<dir>/node.xml`` URI). Where the test driver lacks a feature it is
emulated here, and only here:

- disk hot-plug: ``attach_disk``/``detach_disk`` edit the persistent definition,
  and ``get_domain`` reads the persistent definition;
- the console: ``spawn`` writes the lines a booted tiny guest would print;
- hard reboot: a no-op that keeps the domain running;
- a guest's death: a file named after an instance in ``<state_dir>/crash`` powers the
  guest off at the driver's next look at its guests (what ``virsh destroy`` does to a
  real one), for tests that a dead guest is noticed and replaced;
- statistics: the test driver reports states only, so ``all_stats`` integrates a
  per-guest load (``GuestLoad``: cpu share, bytes and requests per second; set with
  ``set_load``) over the fake's clock (``clock``, ``time.time`` unless a test sets
  another) into counters that grow from zero at each start, like a real guest's.

Disk staging uses a real ``ImageCache`` (qcow2 overlays are cheap).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libvirt

from nodectl.domain import Disk, Domain, Nic, disk_to_element, nic_to_element
from nodectl.driver.base import DriverError, InstanceState
from nodectl.driver.libvirt_driver import LibvirtDriver
from nodectl.imagecache import ImageCache
from nodectl.stats import DiskCounters, GuestStats, NicCounters, NodeStats

__all__ = ["FakeDriver", "GuestLoad"]

_EMPTY_NODE = "<node/>\n"


@dataclass(frozen=True)
class GuestLoad:
    """What a fake guest does per second: ``cpu`` is the busy share of each vcpu (0..1);
    network and disk rates are spread evenly over the guest's NICs and disks."""

    cpu: float = 0.02
    net_in_bps: float = 2000.0
    net_out_bps: float = 1000.0
    packet_bytes: float = 500.0
    disk_read_bps: float = 4096.0
    disk_write_bps: float = 8192.0
    request_bytes: float = 4096.0
    disk_latency_s: float = 0.0005


@dataclass
class _Counters:
    """Cumulative counters of one running fake guest, integrated up to ``at``: per NIC
    [rx bytes, tx bytes, rx packets, tx packets], per disk [read bytes, write bytes,
    read ops, write ops, busy ns]."""

    at: float
    domain_id: int
    cpu_ns: float = 0.0
    nics: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    disks: dict[str, list[float]] = dataclasses.field(default_factory=dict)


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
        self._crash_dir = state_dir / "crash"
        self.clock: Callable[[], float] = time.time
        self._loads: dict[str, GuestLoad] = {}
        self._counters: dict[str, _Counters] = {}
        self._devices: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._vcpus: dict[str, int] = {}
        self._stats_lock = threading.Lock()
        super().__init__(f"test://{node}", images or ImageCache(state_dir / "images"), "qemu")

    # -- a guest's death ------------------------------------------------------------------
    def _crashes(self) -> None:
        """Power off the guests named in the crash directory (each once)."""
        if not self._crash_dir.is_dir():
            return
        for marker in sorted(self._crash_dir.iterdir()):
            dom = self._find(marker.name)
            if dom is not None and dom.isActive():
                dom.destroy()
            marker.unlink(missing_ok=True)

    def list_instances(self) -> list[str]:
        self._crashes()
        return super().list_instances()

    def instance_state(self, instance_id: str) -> InstanceState:
        self._crashes()
        return super().instance_state(instance_id)

    # -- statistics -----------------------------------------------------------------------
    def set_load(self, instance_id: str, load: GuestLoad) -> None:
        """From now on the guest works at ``load`` (counters so far are kept)."""
        with self._stats_lock:
            now = self.clock()
            for iid, counters in self._counters.items():
                self._advance(iid, counters, now)
            self._loads[instance_id] = load

    def _advance(self, instance_id: str, c: _Counters, now: float) -> None:
        dt = max(0.0, now - c.at)
        c.at = now
        load = self._loads.get(instance_id, GuestLoad())
        disks, nics = self._devices.get(instance_id, ((), ()))
        c.cpu_ns += dt * 1e9 * self._vcpus.get(instance_id, 1) * min(1.0, max(0.0, load.cpu))
        rx = load.net_in_bps * dt / max(1, len(nics))  # the guest's view, as libvirt's
        tx = load.net_out_bps * dt / max(1, len(nics))
        for nic in nics:
            n = c.nics.setdefault(nic, [0.0] * 4)
            for i, add in enumerate((rx, tx, rx / load.packet_bytes, tx / load.packet_bytes)):
                n[i] += add
        rd = load.disk_read_bps * dt / max(1, len(disks))
        wr = load.disk_write_bps * dt / max(1, len(disks))
        ops = (rd + wr) / load.request_bytes
        for disk in disks:
            d = c.disks.setdefault(disk, [0.0] * 5)
            for i, add in enumerate((rd, wr, rd / load.request_bytes, wr / load.request_bytes,
                                     ops * load.disk_latency_s * 1e9)):
                d[i] += add

    def _refresh_devices(self, instance_id: str) -> None:
        try:
            domain = self.get_domain(instance_id)
        except DriverError:
            return
        self._devices[instance_id] = (tuple(d.target for d in domain.disks),
                                      tuple(n.target_dev or n.mac for n in domain.nics))
        self._vcpus[instance_id] = domain.vcpus

    def all_stats(self) -> NodeStats:
        states = super().all_stats()
        with self._stats_lock:
            now = self.clock()
            guests = []
            for g in states.guests:
                c = self._counters.get(g.instance_id)
                if g.state != "running":
                    self._counters.pop(g.instance_id, None)
                    guests.append(g)
                    continue
                if c is None or c.domain_id != g.domain_id:  # (re)started: from zero
                    c = self._counters[g.instance_id] = _Counters(at=now, domain_id=g.domain_id)
                    self._refresh_devices(g.instance_id)
                self._advance(g.instance_id, c, now)
                guests.append(self._sample(g, c))
        return NodeStats(at=now, guests=tuple(guests))

    def _sample(self, g: GuestStats, c: _Counters) -> GuestStats:
        disks, nics = self._devices.get(g.instance_id, ((), ()))
        return dataclasses.replace(
            g, cpu_time_ns=int(c.cpu_ns), vcpus=self._vcpus.get(g.instance_id, 1),
            disks=tuple(DiskCounters(d, *(int(v) for v in c.disks.get(d, [0.0] * 5)))
                        for d in disks),
            nics=tuple(NicCounters(n, *(int(v) for v in c.nics.get(n, [0.0] * 4)))
                       for n in nics))

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
        self._refresh_devices(instance_id)

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
                self._refresh_devices(instance_id)
                return

    def attach_nic(self, instance_id: str, nic: Nic) -> None:
        dom = self._lookup(instance_id)
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        devices = root.find("devices")
        if devices is None:
            devices = ET.SubElement(root, "devices")
        for existing in devices.findall("interface/mac"):
            if existing.get("address", "").lower() == nic.mac.lower():
                raise DriverError(f"NIC {nic.mac} already on {instance_id}")
        devices.append(nic_to_element(nic))
        self._redefine(instance_id, root)

    def detach_nic(self, instance_id: str, mac: str, timeout: float = 10.0) -> None:
        dom = self._lookup(instance_id)
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        devices = root.find("devices")
        for nic in devices.findall("interface") if devices is not None else []:
            found = nic.find("mac")
            if found is not None and found.get("address", "").lower() == mac.lower():
                assert devices is not None
                devices.remove(nic)
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
