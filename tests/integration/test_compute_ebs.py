"""EBS on a real QEMU (TCG) guest through the all-in-one node and a private libvirtd.

One boot serves the single-guest checks (they were two tests, each with its own cloud
and guest):

- An EBS-backed instance: a volume filled with the tiny image's root file system is
  snapshotted (``fill_volume``: the admin/test helper writing a file into a detached
  file-backend volume), registered as an emi with the tiny kernel and ramdisk, and run.
- AttachVolume hot-plugs a volume into the running guest: the guest kernel reports the
  new virtio disk on the serial console (``virtio_blk ... [vdb]``); DetachVolume unplugs
  it and the volume is ``available`` again.
- The instance is then stopped (the root volume stays), started (a second boot on the
  console), and terminated (the root volume is deleted: DeleteOnTermination).

A Multi-Attach volume shared by two running guests has its own test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveCloud, console_text, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root"),
]


_wait = wait_for


def fill_volume(data_dir: Path, volume_id: str, source: Path,
                chunk: int = 8 * 1024 * 1024) -> None:
    """Write ``source`` at offset 0 of a detached volume on the cloud's file backend."""
    from storagectl.blocks import open_block_backend

    backend = open_block_backend("file", root=str(data_dir / "volumes"))

    async def run() -> None:
        with open(source, "rb") as f:
            offset = 0
            while data := f.read(chunk):
                await backend.write(volume_id, offset, data)
                offset += len(data)
        await backend.close()

    asyncio.run(run())




class Ec2:
    def __init__(self, cloud: LiveCloud) -> None:
        self.cloud = cloud

    def __call__(self, *args: str) -> Any:
        return json.loads(self.cloud.aws("ec2", *args).stdout or "{}")

    def state(self, iid: str) -> str:
        out = self("describe-instances", "--instance-ids", iid)
        return str(out["Reservations"][0]["Instances"][0]["State"]["Name"])

    def volume(self, vid: str) -> dict[str, Any]:
        out: dict[str, Any] = self("describe-volumes", "--volume-ids", vid)["Volumes"][0]
        return out

    def console(self, iid: str) -> str:
        return console_text(self("get-console-output", "--instance-id", iid))

    def images(self, image: Any) -> tuple[str, str]:
        eki = self("register-image", "--name", "tiny-k",
                   "--image-location", str(image.kernel))["ImageId"]
        eri = self("register-image", "--name", "tiny-r",
                   "--image-location", str(image.ramdisk))["ImageId"]
        return eki, eri


def test_ebs_backed_run_attach_detach_stop_start_terminate(libvirt_cloud: LiveCloud,
                                                           tiny_image: Any) -> None:
    cloud = libvirt_cloud
    ec2 = Ec2(cloud)
    eki, eri = ec2.images(tiny_image)
    zone = ec2("describe-availability-zones")["AvailabilityZones"][0]["ZoneName"]
    source = ec2("create-volume", "--availability-zone", zone, "--size", "1")["VolumeId"]
    vid = ec2("create-volume", "--availability-zone", zone, "--size", "1")["VolumeId"]
    _wait(lambda: ec2.volume(source)["State"] == "available", 60, "the source volume")
    fill_volume(cloud.data_dir, source, Path(tiny_image.rootfs))
    snap = ec2("create-snapshot", "--volume-id", source)["SnapshotId"]
    _wait(lambda: ec2("describe-snapshots", "--snapshot-ids", snap)["Snapshots"][0]["State"]
          == "completed", 120, "the snapshot")
    ec2("delete-volume", "--volume-id", source)
    emi = ec2("register-image", "--name", "tiny-ebs", "--root-device-name", "/dev/sda1",
              "--kernel-id", eki, "--ramdisk-id", eri, "--block-device-mappings",
              json.dumps([{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}]))["ImageId"]

    started = time.monotonic()
    iid = ec2("run-instances", "--image-id", emi, "--instance-type", "t1.micro")[
        "Instances"][0]["InstanceId"]
    _wait(lambda: ec2.state(iid) == "running", 180, "running")
    _wait(lambda: "cloud-init: ssh ready" in ec2.console(iid), 180, "the first boot")
    first_boot = time.monotonic() - started
    console = ec2.console(iid)
    assert "root /dev/vda mounted" in console
    inst = ec2("describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
    assert inst["RootDeviceType"] == "ebs"
    [root] = inst["BlockDeviceMappings"]
    root_id = root["Ebs"]["VolumeId"]
    assert ec2.volume(root_id)["SnapshotId"] == snap

    # a volume hot-plugged into the running guest, and unplugged
    _wait(lambda: ec2.volume(vid)["State"] == "available", 60, "the volume")
    before = len(re.findall(r"virtio_blk .*\[vd[b-z]\]", ec2.console(iid)))

    def guest_sees_it() -> bool:
        # "virtio_blk virtioN: [vdb] 2097152 512-byte logical blocks": the guest names
        # virtio disks in probe order (its root volume is vda), so the first hot-plugged
        # one is vdb whatever the host-side target (vdf) is
        text = ec2.console(iid)
        return len(re.findall(r"virtio_blk .*\[vd[b-z]\]", text)) > before

    started = time.monotonic()
    ec2("attach-volume", "--volume-id", vid, "--instance-id", iid, "--device", "/dev/sdf")
    _wait(lambda: (ec2.volume(vid)["Attachments"] or [{}])[0].get("State") == "attached",
          60, "attached")
    attached = time.monotonic() - started
    try:
        _wait(guest_sees_it, 60, "the guest kernel to report the new virtio disk")
    except AssertionError:
        print(ec2.console(iid)[-3000:])
        raise
    seen = time.monotonic() - started
    mapping = ec2("describe-instances", "--instance-ids", iid)["Reservations"][0][
        "Instances"][0]["BlockDeviceMappings"]
    assert sorted((m["DeviceName"], m["Ebs"]["VolumeId"]) for m in mapping) == [
        ("/dev/sda1", root_id), ("/dev/sdf", vid)]

    started = time.monotonic()
    ec2("detach-volume", "--volume-id", vid)
    _wait(lambda: ec2.volume(vid)["State"] == "available", 60, "available again")
    detached = time.monotonic() - started
    print(f"attach: recorded attached {attached:.1f}s, guest saw it {seen:.1f}s; "
          f"detach to available {detached:.1f}s")
    ec2("delete-volume", "--volume-id", vid)

    started = time.monotonic()
    ec2("stop-instances", "--instance-ids", iid)
    _wait(lambda: ec2.state(iid) == "stopped", 120, "stopped")
    stopped = time.monotonic() - started
    assert ec2.volume(root_id)["State"] == "in-use"

    started = time.monotonic()
    ec2("start-instances", "--instance-ids", iid)
    _wait(lambda: ec2.state(iid) == "running", 120, "running again")

    def second_boot() -> bool:
        text = ec2.console(iid)
        if text.count("cloud-init: ssh ready") >= 2:
            return True
        down = text.rfind("reboot: Power down")
        return down >= 0 and text.find("cloud-init: ssh ready", down) > down

    _wait(second_boot, 180, "a second boot on the console")
    restarted = time.monotonic() - started
    print(f"EBS-backed: run to ssh-ready {first_boot:.1f}s, stop {stopped:.1f}s, "
          f"start to ssh-ready {restarted:.1f}s")

    ec2("terminate-instances", "--instance-ids", iid)
    _wait(lambda: ec2.state(iid) == "terminated", 120, "terminated")

    def root_gone() -> bool:
        out = cloud.aws("ec2", "describe-volumes", "--volume-ids", root_id, check=False)
        return out.returncode != 0 and "InvalidVolume.NotFound" in out.stderr

    _wait(root_gone, 60, "the root volume deleted (DeleteOnTermination)")
    assert not list((cloud.data_dir / "volumes").glob(f"**/{root_id}*"))


# the writer puts its instance id in the shared disk's first sector; the reader drops its
# page cache before each look, so what it prints came from the disk both guests share
_SHARED_WRITER = """#!/bin/sh
me=$(wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)
while [ ! -b /dev/vdb ]; do sleep 1; done
printf 'MULTI-ATTACH-%s\\n' "$me" | dd of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null
sync
echo "shared-disk-written $me" > /dev/console
"""
_SHARED_READER = """#!/bin/sh
while [ ! -b /dev/vdb ]; do sleep 1; done
while true; do
  sync; echo 3 > /proc/sys/vm/drop_caches
  got=$(dd if=/dev/vdb bs=512 count=1 2>/dev/null | tr -dc 'A-Za-z0-9-' | head -c 40)
  case "$got" in MULTI-ATTACH-i-*) echo "shared-disk-read $got" > /dev/console; break;; esac
  sleep 1
done
"""


def test_multi_attach_volume_shared_by_two_running_guests(libvirt_cloud: LiveCloud,
                                                          tiny_image: Any) -> None:
    """An io2 volume with Multi-Attach is hot-plugged into two running guests at once
    (``<shareable/>``): what one guest writes to the raw disk the other reads back."""
    cloud = libvirt_cloud
    ec2 = cloud.client("ec2")
    eki = ec2.register_image(Name="ma-k", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="ma-r", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="ma-m", ImageLocation=str(tiny_image.rootfs), KernelId=eki,
                             RamdiskId=eri)["ImageId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    vid = ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="io2", Iops=100,
                            MultiAttachEnabled=True)["VolumeId"]
    writer, reader = (ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1,
                                        InstanceType="t1.micro", UserData=script)[
        "Instances"][0]["InstanceId"] for script in (_SHARED_WRITER, _SHARED_READER))
    ids = [writer, reader]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids,
                                            WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    for iid in (reader, writer):  # the reader is watching before the writer has the disk
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    wait_for(lambda: sorted((a["InstanceId"], a["State"]) for a in ec2.describe_volumes(
        VolumeIds=[vid])["Volumes"][0]["Attachments"]) == sorted(
            (iid, "attached") for iid in ids), 60, "attached to both")
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "in-use"
    # each running guest holds the disk as a shareable one without a host cache (the
    # file backend's page cache would keep two guests coherent even without it: this is
    # what keeps them coherent on any backend)
    import libvirt

    conn = libvirt.open(os.environ["CLOUDCTL_LIBVIRT_URI"])
    try:
        for iid in ids:
            disks = [d for d in ET.fromstring(conn.lookupByName(iid).XMLDesc(0)).iter("disk")
                     if d.findtext("serial") in (vid, vid.replace("-", "", 1)[:20])]
            assert len(disks) == 1, iid
            assert disks[0].find("shareable") is not None, ET.tostring(disks[0])
            driver = disks[0].find("driver")
            assert driver is not None and driver.get("cache") == "none", ET.tostring(disks[0])
    finally:
        conn.close()
    console = Ec2(cloud).console
    try:
        wait_for(lambda: f"shared-disk-written {writer}" in console(writer), 120,
                 "the writer to write the shared disk")
        wait_for(lambda: f"shared-disk-read MULTI-ATTACH-{writer}" in console(reader), 60,
                 "the reader to read the writer's sector")
    except AssertionError:
        print(console(writer)[-2000:], console(reader)[-2000:], sep="\n-----\n")
        raise
    # detached from one, the other keeps it; detached from both, it is available again
    ec2.detach_volume(VolumeId=vid, InstanceId=writer)
    wait_for(lambda: [a["InstanceId"] for a in ec2.describe_volumes(VolumeIds=[vid])[
        "Volumes"][0]["Attachments"]] == [reader], 60, "the reader's attachment alone")
    ec2.detach_volume(VolumeId=vid, InstanceId=reader)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids,
                                               WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    ec2.delete_volume(VolumeId=vid)
