"""The libvirt implementation of ``ComputeDriver``.

Owns the domains it tagged on one libvirt connection (``qemu:///system`` on the
private libvirtd, or any URI given) and their staged files in an ``ImageCache``.
Domains are persistent (defined, then started) so a libvirtd restart keeps them.
The domain type is a setting: 'qemu' (TCG) by default, 'kvm' only where
``nodectl.driver.probe`` showed a guest boots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import libvirt

from nodectl.domain import (
    METADATA_NS,
    Disk,
    Domain,
    FileSource,
    Nic,
    OsBoot,
    VirtType,
    disk_to_xml,
    nic_to_xml,
)
from nodectl.driver.base import (
    ComputeDriver,
    DriverError,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    InstanceStats,
    LifecycleEvent,
    Subscription,
)
from nodectl.driver.events import ensure_event_loop
from nodectl.imagecache import ImageCache
from nodectl.stats import DiskCounters, GuestStats, NicCounters, NodeStats

__all__ = ["LibvirtDriver"]

CONSOLE_TAIL_BYTES = 64 * 1024  # what EC2 GetConsoleOutput returns at most

_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: InstanceState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: InstanceState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: InstanceState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: InstanceState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: InstanceState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: InstanceState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: InstanceState.PAUSED,
}
STATS_GROUPS = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
                | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_INTERFACE
                | libvirt.VIR_DOMAIN_STATS_BLOCK)
_EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: ("defined", InstanceState.SHUTOFF),
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: ("undefined", InstanceState.NOSTATE),
    libvirt.VIR_DOMAIN_EVENT_STARTED: ("started", InstanceState.RUNNING),
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: ("suspended", InstanceState.PAUSED),
    libvirt.VIR_DOMAIN_EVENT_RESUMED: ("resumed", InstanceState.RUNNING),
    libvirt.VIR_DOMAIN_EVENT_STOPPED: ("stopped", InstanceState.SHUTOFF),
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: ("shutdown", InstanceState.SHUTDOWN),
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: ("pmsuspended", InstanceState.PAUSED),
    libvirt.VIR_DOMAIN_EVENT_CRASHED: ("crashed", InstanceState.CRASHED),
}


def _no_domain(exc: libvirt.libvirtError) -> bool:
    return bool(exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)


class _Subscription(Subscription):
    def __init__(self, driver: LibvirtDriver, key: int) -> None:
        self._driver, self._key = driver, key

    def cancel(self) -> None:
        self._driver._subscribers.pop(self._key, None)


class LibvirtDriver(ComputeDriver):
    """A ComputeDriver over one libvirt connection."""

    def __init__(self, uri: str, images: ImageCache, virt_type: VirtType = "qemu") -> None:
        ensure_event_loop()
        self.uri = uri
        self.images = images
        self.virt_type: VirtType = virt_type
        self._conn = libvirt.open(uri)
        self._known: set[str] = set()
        self._subscribers: dict[int, Callable[[LifecycleEvent], None]] = {}
        self._next_key = 0
        self._lock = threading.Lock()
        self._callback_id: int | None = None
        self.list_instances()  # learn which existing domains are ours

    def _c(self) -> libvirt.virConnect:
        """The connection, opened again if libvirtd went away (a restarted daemon keeps
        its domains: nothing else is to be done). Raises DriverError while it is down."""
        with self._lock:
            with contextlib.suppress(libvirt.libvirtError):
                if self._conn.isAlive():
                    return self._conn
            try:
                conn = libvirt.open(self.uri)
            except libvirt.libvirtError as exc:
                raise DriverError(f"libvirt at {self.uri} unreachable: {exc}") from exc
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = conn
            if self._callback_id is not None:
                self._callback_id = conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None)
            return conn

    # -- lookup ---------------------------------------------------------------------
    def _is_ours(self, dom: libvirt.virDomain) -> bool:
        try:
            dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS)
        except libvirt.libvirtError:
            return False
        self._known.add(dom.name())
        return True

    def _find(self, instance_id: str) -> libvirt.virDomain | None:
        try:
            dom = self._c().lookupByName(instance_id)
        except libvirt.libvirtError as exc:
            if _no_domain(exc):
                return None
            raise DriverError(str(exc)) from exc
        if not self._is_ours(dom):
            raise DriverError(f"domain {instance_id} exists but is not ours")
        return dom

    def _lookup(self, instance_id: str) -> libvirt.virDomain:
        dom = self._find(instance_id)
        if dom is None:
            raise InstanceNotFound(instance_id)
        return dom

    # -- lifecycle --------------------------------------------------------------------
    def build_domain(self, spec: InstanceSpec) -> Domain:
        """Stage the instance's files and return its domain definition."""
        kernel = self.images.ensure_base(spec.kernel.image_id, spec.kernel.source)
        ramdisk = None
        if spec.ramdisk is not None:
            ramdisk = self.images.ensure_base(spec.ramdisk.image_id, spec.ramdisk.source)
        if spec.root_disk is not None:  # EBS root: the volume is vda, no image overlay
            staged = self.images.stage_instance(spec.instance_id, None,
                                                ephemeral_mib=spec.ephemeral_mib)
            disks = [dataclasses.replace(spec.root_disk, target="vda")]
        else:
            self.images.ensure_base(spec.image.image_id, spec.image.source)
            staged = self.images.stage_instance(
                spec.instance_id, spec.image.image_id,
                root_size_mib=spec.root_size_mib, ephemeral_mib=spec.ephemeral_mib,
            )
            disks = [Disk("vda", FileSource(str(staged.root), "qcow2"))]
        if staged.ephemeral is not None:
            disks.append(Disk("vdb", FileSource(str(staged.ephemeral), staged.ephemeral_format)))
        return Domain(
            name=spec.instance_id,
            uuid=spec.uuid or str(uuidlib.uuid4()),
            memory_mib=spec.memory_mib,
            vcpus=spec.vcpus,
            virt_type=self.virt_type,
            os=OsBoot(kernel=str(kernel), initrd=str(ramdisk) if ramdisk else None,
                      cmdline=spec.cmdline),
            disks=tuple(disks),
            nics=spec.nics,
            console_log=str(staged.console_log),
            instance_id=spec.instance_id,
        )

    def spawn(self, spec: InstanceSpec) -> Domain:
        existing = self._find(spec.instance_id)
        if existing is not None:
            if not existing.isActive():
                existing.create()
            return self.get_domain(spec.instance_id)
        try:
            domain = self.build_domain(spec)
            self._known.add(spec.instance_id)
            dom = self._c().defineXML(domain.to_xml())
            dom.create()
            self._after_start(domain)
            return domain
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.destroy(spec.instance_id)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(f"spawn {spec.instance_id} failed: {exc}") from exc

    def _after_start(self, domain: Domain) -> None:
        """Hook for drivers that emulate parts of a hypervisor (the fake)."""

    def destroy(self, instance_id: str) -> None:
        dom = self._find(instance_id)
        if dom is not None:
            try:
                if dom.isActive():
                    dom.destroy()
            except libvirt.libvirtError as exc:
                if dom.isActive():
                    raise DriverError(f"destroy {instance_id}: {exc}") from exc
            try:
                dom.undefine()
            except libvirt.libvirtError as exc:
                if not _no_domain(exc):
                    raise DriverError(f"undefine {instance_id}: {exc}") from exc
        self.images.remove_instance(instance_id)

    def list_instances(self) -> list[str]:
        return sorted(d.name() for d in self._c().listAllDomains(0) if self._is_ours(d))

    def instance_state(self, instance_id: str) -> InstanceState:
        state = self._lookup(instance_id).state()[0]
        return _STATES.get(state, InstanceState.NOSTATE)

    def get_domain(self, instance_id: str) -> Domain:
        return Domain.from_xml(self._lookup(instance_id).XMLDesc(0))

    def reboot(self, instance_id: str, hard: bool = False) -> None:
        dom = self._lookup(instance_id)
        try:
            if hard:
                dom.reset(0)
            else:
                dom.reboot(0)
        except libvirt.libvirtError as exc:
            raise DriverError(f"reboot {instance_id}: {exc}") from exc

    def shutdown(self, instance_id: str) -> None:
        try:
            self._lookup(instance_id).shutdown()
        except libvirt.libvirtError as exc:
            raise DriverError(f"shutdown {instance_id}: {exc}") from exc

    def power_off(self, instance_id: str) -> None:
        dom = self._lookup(instance_id)
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as exc:
            if dom.isActive():
                raise DriverError(f"power off {instance_id}: {exc}") from exc

    # -- disks and NICs -----------------------------------------------------------------
    def attach_disk(self, instance_id: str, disk: Disk) -> None:
        self._attach(instance_id, disk_to_xml(disk), f"{disk.target}")

    def detach_disk(self, instance_id: str, target: str, timeout: float = 10.0) -> None:
        self._detach(instance_id, lambda xml: _disk_element(xml, target), target, timeout)

    def attach_nic(self, instance_id: str, nic: Nic) -> None:
        self._attach(instance_id, nic_to_xml(nic), f"NIC {nic.mac}")

    def detach_nic(self, instance_id: str, mac: str, timeout: float = 10.0) -> None:
        self._detach(instance_id, lambda xml: _nic_element(xml, mac), f"NIC {mac}", timeout)

    def _attach(self, instance_id: str, device_xml: str, what: str) -> None:
        """Plug a device into the definition and, when the guest runs, into the guest."""
        dom = self._lookup(instance_id)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        try:
            dom.attachDeviceFlags(device_xml, flags)
        except libvirt.libvirtError as exc:
            raise DriverError(f"attach {what} to {instance_id}: {exc}") from exc

    def _detach(self, instance_id: str, find: Callable[[str], ET.Element | None], what: str,
                timeout: float) -> None:
        """Unplug a device from the definition and the running guest, then wait until the
        guest has released it (``find`` picks the device out of a domain XML)."""
        dom = self._lookup(instance_id)
        live = find(dom.XMLDesc(0)) if dom.isActive() else None
        config = find(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        try:
            if config is not None:
                dom.detachDeviceFlags(ET.tostring(config, encoding="unicode"),
                                      libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            if live is not None:
                dom.detachDeviceFlags(ET.tostring(live, encoding="unicode"),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise DriverError(f"detach {what} from {instance_id}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while live is not None and find(dom.XMLDesc(0)) is not None:
            if time.monotonic() > deadline:
                raise DriverError(f"guest {instance_id} did not release {what} in {timeout}s")
            time.sleep(0.05)

    # -- observation ---------------------------------------------------------------------
    def console_output(self, instance_id: str) -> str:
        path = self.get_domain(instance_id).console_log
        if path is None:
            return ""
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - CONSOLE_TAIL_BYTES))
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stats(self, instance_id: str) -> InstanceStats:
        dom = self._lookup(instance_id)
        state, _max_kib, mem_kib, vcpus, cpu_ns = dom.info()
        domain = Domain.from_xml(dom.XMLDesc(0))
        block: dict[str, tuple[int, int]] = {}
        net: dict[str, tuple[int, int]] = {}
        if dom.isActive():
            for disk in domain.disks:
                with contextlib.suppress(libvirt.libvirtError):
                    s = dom.blockStats(disk.target)
                    block[disk.target] = (int(s[1]), int(s[3]))
            for nic in domain.nics:
                if nic.target_dev is not None:
                    with contextlib.suppress(libvirt.libvirtError):
                        n = dom.interfaceStats(nic.target_dev)
                        net[nic.mac] = (int(n[0]), int(n[4]))
        return InstanceStats(
            state=_STATES.get(state, InstanceState.NOSTATE), cpu_time_ns=int(cpu_ns),
            memory_kib=int(mem_kib), vcpus=int(vcpus), block=block, net=net,
        )

    def all_stats(self) -> NodeStats:
        try:
            records = self._c().getAllDomainStats(STATS_GROUPS, 0)
        except libvirt.libvirtError as exc:
            raise DriverError(f"domain statistics: {exc}") from exc
        at = time.time()
        guests = []
        for dom, record in records:
            name = dom.name()
            if name in self._known or self._is_ours(dom):
                guests.append(guest_from_record(name, dom.ID(), record))
        return NodeStats(at=at, guests=tuple(sorted(guests, key=lambda g: g.instance_id)))

    # -- events ----------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[LifecycleEvent], None]) -> Subscription:
        with self._lock:
            if self._callback_id is None:
                self._callback_id = self._conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None)
            key = self._next_key
            self._next_key += 1
            self._subscribers[key] = callback
        return _Subscription(self, key)

    def _on_lifecycle(self, _conn: Any, dom: libvirt.virDomain, event: int, _detail: int,
                      _opaque: Any) -> None:
        name = dom.name()
        if name not in self._known:
            return
        detail, state = _EVENTS.get(event, ("unknown", InstanceState.NOSTATE))
        if event == libvirt.VIR_DOMAIN_EVENT_DEFINED:  # (re)defined: may well be running
            with contextlib.suppress(libvirt.libvirtError):
                state = _STATES.get(dom.state()[0], InstanceState.NOSTATE)
        ev = LifecycleEvent(instance_id=name, state=state, detail=detail)
        for callback in list(self._subscribers.values()):
            with contextlib.suppress(Exception):
                callback(ev)

    def close(self) -> None:
        with self._lock:
            if self._callback_id is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.domainEventDeregisterAny(self._callback_id)
                self._callback_id = None
            self._subscribers.clear()
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()


def guest_from_record(name: str, domain_id: int, record: dict[str, Any]) -> GuestStats:
    """A ``GuestStats`` from one ``getAllDomainStats`` record (flat ``group.N.field`` keys)."""
    def num(key: str) -> int:
        return int(record.get(key, 0) or 0)

    state = _STATES.get(num("state.state"), InstanceState.NOSTATE)
    disks = tuple(
        DiskCounters(device=str(record.get(f"block.{i}.name", "")),
                     read_bytes=num(f"block.{i}.rd.bytes"), write_bytes=num(f"block.{i}.wr.bytes"),
                     read_ops=num(f"block.{i}.rd.reqs"), write_ops=num(f"block.{i}.wr.reqs"),
                     busy_ns=num(f"block.{i}.rd.times") + num(f"block.{i}.wr.times")
                     + num(f"block.{i}.fl.times"))
        for i in range(num("block.count")))
    nics = tuple(
        NicCounters(device=str(record.get(f"net.{i}.name", "")),
                    rx_bytes=num(f"net.{i}.rx.bytes"), tx_bytes=num(f"net.{i}.tx.bytes"),
                    rx_packets=num(f"net.{i}.rx.pkts"), tx_packets=num(f"net.{i}.tx.pkts"))
        for i in range(num("net.count")))
    steal = sum(num(f"vcpu.{i}.delay") for i in range(num("vcpu.maximum") or num("vcpu.current")))
    return GuestStats(instance_id=name, state=state.value, domain_id=int(domain_id),
                      cpu_time_ns=num("cpu.time"), vcpus=num("vcpu.current"),
                      disks=disks, nics=nics, steal_ns=steal)


def _nic_element(xml: str, mac: str) -> ET.Element | None:
    for nic in ET.fromstring(xml).findall("devices/interface"):
        found = nic.find("mac")
        if found is not None and found.get("address", "").lower() == mac.lower():
            return nic
    return None


def _disk_element(xml: str, target: str) -> ET.Element | None:
    root = ET.fromstring(xml)
    for disk in root.findall("devices/disk"):
        t = disk.find("target")
        if t is not None and t.get("dev") == target:
            return disk
    return None
