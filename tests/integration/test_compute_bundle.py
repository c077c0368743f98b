"""Bundled images boot on a real QEMU (TCG) guest: ``cloudctl image install`` bundles
the tiny guest's kernel, ramdisk and root file system (encrypted for the cloud's
bundle certificate), uploads them to a bucket through the live server's S3 and
registers them (RegisterImage reads and checks each manifest through S3); an
instance of the resulting emi runs on the all-in-one libvirt node, which decrypts
the bundles with the cloud bundle key, and boots.

Also checked through the API: a manifest that is missing, or not a manifest, is
``InvalidManifest``; the kind comes from the manifest's ``<type>`` (not the name).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import pytest

from tests.support import LiveCloud, console_text, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root"),
]


_wait = wait_for




def test_install_bundles_and_boot(libvirt_cloud: LiveCloud, tiny_image: Any) -> None:
    cloud = libvirt_cloud

    def aws(*args: str) -> Any:
        return json.loads(cloud.aws("ec2", *args).stdout or "{}")

    def install(path: Any, kind: str, name: str, *extra: str) -> str:
        started = time.monotonic()
        out = cloud.cli("--output", "json", "image", "install", "--file", str(path),
                        "--type", kind, "--bucket", "tiny-bundles", "--name", name,
                        "--prefix", name, *extra)
        print(f"image install {kind}: {time.monotonic() - started:.1f}s")
        return str(json.loads(out.stdout)["ImageId"])

    eki = install(tiny_image.kernel, "kernel", "tiny-kernel")
    eri = install(tiny_image.ramdisk, "ramdisk", "tiny-ramdisk")
    emi = install(tiny_image.rootfs, "machine", "tiny-root", "--kernel", eki, "--ramdisk", eri)
    assert eki.startswith("eki-") and eri.startswith("eri-") and emi.startswith("emi-")
    images = {i["ImageId"]: i for i in aws("describe-images", "--image-ids", eki, eri,
                                          emi)["Images"]}
    assert images[eki]["ImageType"] == "kernel" and images[eri]["ImageType"] == "ramdisk"
    assert images[emi]["ImageLocation"] == "tiny-bundles/tiny-root.manifest.xml"
    assert images[emi]["KernelId"] == eki and images[emi]["RamdiskId"] == eri

    for location in ("tiny-bundles/missing.manifest.xml", "tiny-bundles/tiny-root.part.00"):
        bad = cloud.aws("ec2", "register-image", "--name", "bad", "--image-location", location,
                        check=False)
        assert bad.returncode != 0 and "InvalidManifest" in bad.stderr, bad.stderr

    started = time.monotonic()
    iid = aws("run-instances", "--image-id", emi, "--instance-type", "t1.micro")[
        "Instances"][0]["InstanceId"]

    def state() -> str:
        out = aws("describe-instances", "--instance-ids", iid)
        return str(out["Reservations"][0]["Instances"][0]["State"]["Name"])

    def console() -> str:
        return console_text(aws("get-console-output", "--instance-id", iid))

    _wait(lambda: state() == "running", 180, "running")
    _wait(lambda: "cloud-init: ssh ready" in console(), 180, "the guest to boot")
    print(f"bundled emi: RunInstances to ssh-ready {time.monotonic() - started:.1f}s")
    assert "root /dev/vda mounted" in console()
    for image_id in (eki, eri, emi):  # staged from the bundles into the node's cache
        assert (cloud.data_dir / "node" / "images" / "base" / image_id).exists()
    aws("terminate-instances", "--instance-ids", iid)
    _wait(lambda: state() == "terminated", 120, "terminated")
