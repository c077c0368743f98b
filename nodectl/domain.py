"""Libvirt domain XML from typed dataclasses, and back.

Owns the mapping between the node agent's view of a guest (``Domain``) and
libvirt's domain XML. ``to_xml()`` builds an ElementTree (never a string
template); ``Domain.from_xml()`` reads our own XML or the expanded XML libvirt
returns, ignoring what it does not model. The ``<metadata>`` element in
``METADATA_NS`` tags a domain as ours and carries the instance id; nothing else
on the host is ours.
"""

from __future__ import annotations

import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "METADATA_NS",
    "Disk",
    "Domain",
    "FileSource",
    "Nic",
    "OsBoot",
    "RbdHost",
    "RbdSource",
    "disk_to_element",
    "disk_to_xml",
    "nic_to_element",
    "nic_to_xml",
]

METADATA_NS = "http://nodectl.cloud.invalid/xmlns/instance/1"
_MD = f"{{{METADATA_NS}}}"
ET.register_namespace("nodectl", METADATA_NS)

VirtType = Literal["qemu", "kvm"]
DiskFormat = Literal["raw", "qcow2"]


@dataclass(frozen=True)
class OsBoot:
    """Direct kernel boot: kernel, optional initrd, command line."""

    kernel: str
    initrd: str | None = None
    cmdline: str = ""
    machine: str = "pc"
    arch: str = "x86_64"


@dataclass(frozen=True)
class FileSource:
    """A disk backed by a host file."""

    path: str
    format: DiskFormat = "raw"


@dataclass(frozen=True)
class RbdHost:
    name: str
    port: int = 3300


@dataclass(frozen=True)
class RbdSource:
    """A Ceph RBD image reached through QEMU's librbd, with a libvirt secret."""

    pool: str
    image: str
    hosts: tuple[RbdHost, ...] = ()
    auth_username: str | None = None
    secret_uuid: str | None = None
    format: DiskFormat = "raw"


@dataclass(frozen=True)
class Disk:
    """A virtio (or other bus) block device."""

    target: str
    source: FileSource | RbdSource
    bus: str = "virtio"
    readonly: bool = False
    serial: str | None = None
    # several guests write it (an EBS Multi-Attach volume): ``<shareable/>``, no host cache
    shareable: bool = False


@dataclass(frozen=True)
class Nic:
    """A NIC on a host bridge."""

    mac: str
    bridge: str
    model: str = "virtio"
    target_dev: str | None = None


@dataclass(frozen=True)
class Domain:
    """A guest as the node agent defines it."""

    name: str
    os: OsBoot
    memory_mib: int = 128
    vcpus: int = 1
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    virt_type: VirtType = "qemu"
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = ()
    console_log: str | None = None
    instance_id: str | None = None
    tb_cache_mib: int | None = 32

    def to_element(self) -> ET.Element:
        dom = ET.Element("domain", type=self.virt_type)
        ET.SubElement(dom, "name").text = self.name
        ET.SubElement(dom, "uuid").text = self.uuid
        if self.instance_id is not None:
            md = ET.SubElement(dom, "metadata")
            inst = ET.SubElement(md, f"{_MD}instance")
            ET.SubElement(inst, f"{_MD}instance-id").text = self.instance_id
        ET.SubElement(dom, "memory", unit="KiB").text = str(self.memory_mib * 1024)
        ET.SubElement(dom, "vcpu").text = str(self.vcpus)
        os_el = ET.SubElement(dom, "os")
        ET.SubElement(os_el, "type", arch=self.os.arch, machine=self.os.machine).text = "hvm"
        ET.SubElement(os_el, "kernel").text = self.os.kernel
        if self.os.initrd is not None:
            ET.SubElement(os_el, "initrd").text = self.os.initrd
        ET.SubElement(os_el, "cmdline").text = self.os.cmdline
        features = ET.SubElement(dom, "features")
        ET.SubElement(features, "acpi")
        if self.virt_type == "qemu" and self.tb_cache_mib is not None:
            tcg = ET.SubElement(features, "tcg")
            ET.SubElement(tcg, "tb-cache", unit="MiB").text = str(self.tb_cache_mib)
        ET.SubElement(dom, "on_poweroff").text = "destroy"
        ET.SubElement(dom, "on_reboot").text = "restart"
        ET.SubElement(dom, "on_crash").text = "destroy"
        devices = ET.SubElement(dom, "devices")
        for disk in self.disks:
            devices.append(disk_to_element(disk))
        for nic in self.nics:
            devices.append(nic_to_element(nic))
        if self.console_log is not None:
            for tag in ("serial", "console"):
                ser = ET.SubElement(devices, tag, type="file")
                ET.SubElement(ser, "source", path=self.console_log, append="on")
                target = ET.SubElement(ser, "target", port="0")
                if tag == "console":
                    target.set("type", "serial")
        ET.SubElement(devices, "memballoon", model="none")
        return dom

    def to_xml(self) -> str:
        el = self.to_element()
        ET.indent(el)
        return ET.tostring(el, encoding="unicode")

    @classmethod
    def from_xml(cls, xml: str) -> Domain:
        dom = ET.fromstring(xml)
        os_el = _child(dom, "os")
        type_el = _child(os_el, "type")
        memory = _child(dom, "memory")
        kib = int(_text(memory)) * _unit_kib(memory.get("unit", "KiB"))
        devices = dom.find("devices")
        disks: list[Disk] = []
        nics: list[Nic] = []
        console_log = None
        if devices is not None:
            disks = [d for d in (_disk_from_element(e) for e in devices.findall("disk")) if d]
            nics = [n for n in (_nic_from_element(e) for e in devices.findall("interface")) if n]
            serial = devices.find("serial[@type='file']/source")
            if serial is not None:
                console_log = serial.get("path")
        iid = dom.find(f"metadata/{_MD}instance/{_MD}instance-id")
        tb = dom.find("features/tcg/tb-cache")
        virt_type = dom.get("type", "qemu")
        return cls(
            name=_text(_child(dom, "name")),
            uuid=_text(_child(dom, "uuid")),
            memory_mib=kib // 1024,
            vcpus=int(_text(_child(dom, "vcpu"))),
            virt_type="kvm" if virt_type == "kvm" else "qemu",
            os=OsBoot(
                kernel=_text(_child(os_el, "kernel")),
                initrd=_opt_text(os_el.find("initrd")),
                cmdline=_opt_text(os_el.find("cmdline")) or "",
                machine=_machine_alias(type_el.get("machine", "pc")),
                arch=type_el.get("arch", "x86_64"),
            ),
            disks=tuple(disks),
            nics=tuple(nics),
            console_log=console_log,
            instance_id=_opt_text(iid),
            tb_cache_mib=(int(_text(tb)) * _unit_kib(tb.get("unit", "KiB")) // 1024)
            if tb is not None else None,
        )


def disk_to_element(disk: Disk) -> ET.Element:
    """The ``<disk>`` element for one disk (also used for hot-plug)."""
    src = disk.source
    kind = "file" if isinstance(src, FileSource) else "network"
    el = ET.Element("disk", type=kind, device="disk")
    driver = ET.SubElement(el, "driver", name="qemu", type=src.format)
    if disk.shareable:
        driver.set("cache", "none")
    if isinstance(src, FileSource):
        ET.SubElement(el, "source", file=src.path)
    else:
        s = ET.SubElement(el, "source", protocol="rbd", name=f"{src.pool}/{src.image}")
        for host in src.hosts:
            ET.SubElement(s, "host", name=host.name, port=str(host.port))
        if src.auth_username is not None:
            auth = ET.SubElement(s, "auth", username=src.auth_username)
            if src.secret_uuid is not None:
                ET.SubElement(auth, "secret", type="ceph", uuid=src.secret_uuid)
    ET.SubElement(el, "target", dev=disk.target, bus=disk.bus)
    if disk.readonly:
        ET.SubElement(el, "readonly")
    if disk.shareable:
        ET.SubElement(el, "shareable")
    if disk.serial is not None:
        ET.SubElement(el, "serial").text = disk.serial
    return el


def disk_to_xml(disk: Disk) -> str:
    return ET.tostring(disk_to_element(disk), encoding="unicode")


def nic_to_xml(nic: Nic) -> str:
    """The ``<interface>`` element of one NIC as XML (also used for hot-plug)."""
    return ET.tostring(nic_to_element(nic), encoding="unicode")


def nic_to_element(nic: Nic) -> ET.Element:
    el = ET.Element("interface", type="bridge")
    ET.SubElement(el, "mac", address=nic.mac)
    ET.SubElement(el, "source", bridge=nic.bridge)
    if nic.target_dev is not None:
        ET.SubElement(el, "target", dev=nic.target_dev)
    ET.SubElement(el, "model", type=nic.model)
    return el


def _disk_from_element(el: ET.Element) -> Disk | None:
    if el.get("device", "disk") != "disk":
        return None
    target = el.find("target")
    src = el.find("source")
    if target is None or src is None:
        return None
    driver = el.find("driver")
    fmt: DiskFormat = "qcow2" if driver is not None and driver.get("type") == "qcow2" else "raw"
    source: FileSource | RbdSource
    if el.get("type") == "file":
        source = FileSource(path=src.get("file", ""), format=fmt)
    elif el.get("type") == "network" and src.get("protocol") == "rbd":
        pool, _, image = src.get("name", "").partition("/")
        auth = src.find("auth")
        if auth is None:
            auth = el.find("auth")
        secret = auth.find("secret") if auth is not None else None
        source = RbdSource(
            pool=pool, image=image,
            hosts=tuple(RbdHost(h.get("name", ""), int(h.get("port", "3300")))
                        for h in src.findall("host")),
            auth_username=auth.get("username") if auth is not None else None,
            secret_uuid=secret.get("uuid") if secret is not None else None,
            format=fmt,
        )
    else:
        return None
    return Disk(
        target=target.get("dev", ""), source=source, bus=target.get("bus", "virtio"),
        readonly=el.find("readonly") is not None, serial=_opt_text(el.find("serial")),
        shareable=el.find("shareable") is not None,
    )


def _nic_from_element(el: ET.Element) -> Nic | None:
    if el.get("type") != "bridge":
        return None
    mac, src = el.find("mac"), el.find("source")
    model, target = el.find("model"), el.find("target")
    if mac is None or src is None:
        return None
    return Nic(
        mac=mac.get("address", ""), bridge=src.get("bridge", ""),
        model=model.get("type", "virtio") if model is not None else "virtio",
        target_dev=target.get("dev") if target is not None else None,
    )


def _child(el: ET.Element, tag: str) -> ET.Element:
    found = el.find(tag)
    if found is None:
        raise ValueError(f"domain XML lacks <{tag}>")
    return found


def _text(el: ET.Element) -> str:
    return (el.text or "").strip()


def _opt_text(el: ET.Element | None) -> str | None:
    return None if el is None else _text(el)


_UNITS_KIB = {"b": 0, "bytes": 0, "k": 1, "kib": 1, "m": 1024, "mib": 1024,
              "g": 1024 ** 2, "gib": 1024 ** 2}


def _unit_kib(unit: str) -> int:
    return _UNITS_KIB.get(unit.lower(), 1)


def _machine_alias(machine: str) -> str:
    """libvirt expands 'pc' to 'pc-i440fx-7.2'; keep the alias we asked for."""
    return "pc" if machine.startswith("pc-i440fx") else machine
