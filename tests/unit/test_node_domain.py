"""Domain XML: typed round-trip, and parsing what libvirt hands back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from nodectl.domain import (
    METADATA_NS,
    Disk,
    Domain,
    FileSource,
    Nic,
    OsBoot,
    RbdHost,
    RbdSource,
    disk_to_xml,
)


def _domain() -> Domain:
    return Domain(
        name="i-0123abcd",
        uuid="2b9f8c7e-3e0e-4a8c-9c55-0c1f1f6a7d10",
        memory_mib=256,
        vcpus=2,
        os=OsBoot("/img/eki-1", "/img/eri-1", "console=ttyS0 root=/dev/vda"),
        disks=(
            Disk("vda", FileSource("/inst/root.qcow2", "qcow2")),
            Disk("vdb", FileSource("/inst/ephemeral.raw")),
            Disk("vdc", RbdSource("volumes", "vol-1", (RbdHost("127.0.0.1", 3300),),
                                  "cinder", "6b0e1a3e-1b7c-4f26-9d2b-7a0c3f1b2c3d"),
                 serial="vol-1"),
        ),
        nics=(Nic("d0:0d:12:34:56:78", "br-edge"),),
        console_log="/inst/console.log",
        instance_id="i-0123abcd",
    )


def test_round_trip() -> None:
    dom = _domain()
    assert Domain.from_xml(dom.to_xml()) == dom


def test_xml_shape() -> None:
    root = ET.fromstring(_domain().to_xml())
    assert root.get("type") == "qemu"
    assert root.findtext(f"metadata/{{{METADATA_NS}}}instance/{{{METADATA_NS}}}instance-id") \
        == "i-0123abcd"
    assert root.find("features/acpi") is not None
    assert root.findtext("features/tcg/tb-cache") == "32"
    rbd = root.find("devices/disk[@type='network']/source")
    assert rbd is not None and rbd.get("name") == "volumes/vol-1"
    serial = root.find("devices/serial[@type='file']/source")
    assert serial is not None and serial.get("path") == "/inst/console.log"


def test_kvm_has_no_tcg_features() -> None:
    dom = Domain(name="x", os=OsBoot("/k"), virt_type="kvm")
    root = ET.fromstring(dom.to_xml())
    assert root.get("type") == "kvm" and root.find("features/tcg") is None
    assert Domain.from_xml(dom.to_xml()).virt_type == "kvm"


def test_disk_xml_for_hotplug() -> None:
    el = ET.fromstring(disk_to_xml(Disk("vdd", FileSource("/v.raw"), readonly=True)))
    target = el.find("target")
    assert el.tag == "disk" and target is not None and target.get("dev") == "vdd"
    assert el.find("readonly") is not None


def test_multi_attach_volume_disk_is_shareable() -> None:
    """An EBS Multi-Attach volume (``shareable`` in its attachment) hot-plugs as a
    ``<shareable/>`` disk without host cache; a plain volume does not."""
    from nodectl.client import VolumeSpec
    from nodectl.local import _volume_disk

    att = {"type": "rbd", "pool": "ebs", "image": "vol-1", "monitors": ["10.0.0.1:3300"],
           "format": "raw"}
    shared = _volume_disk(VolumeSpec("vol-1", "vdf", {**att, "shareable": True}))
    el = ET.fromstring(disk_to_xml(shared))
    driver = el.find("driver")
    assert el.find("shareable") is not None
    assert driver is not None and driver.get("cache") == "none"
    dom = replace(_domain(), disks=(shared,))
    assert Domain.from_xml(dom.to_xml()).disks[0].shareable
    plain = ET.fromstring(disk_to_xml(_volume_disk(VolumeSpec("vol-2", "vdg", att))))
    assert plain.find("shareable") is None


def test_parses_libvirt_expanded_xml() -> None:
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")
    try:
        dom = _domain()
        virt = conn.defineXML(dom.to_xml())
        try:
            parsed = Domain.from_xml(virt.XMLDesc(0))
            # libvirt names the tap device; everything else is what we defined
            nics = tuple(replace(n, target_dev=None) for n in parsed.nics)
            assert replace(parsed, nics=nics) == dom
        finally:
            virt.undefine()
    finally:
        conn.close()


def test_missing_name_is_an_error() -> None:
    with pytest.raises(ValueError):
        Domain.from_xml("<domain type='qemu'><uuid>u</uuid></domain>")
