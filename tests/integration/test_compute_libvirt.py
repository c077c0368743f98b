"""End to end on a real QEMU (TCG) guest: the cloud's all-in-one node drives a private
libvirtd; the tiny guest is registered as eki/eri/emi, launched with ``aws ec2
run-instances`` (key pair, user data), boots (console output through
GetConsoleOutput), and is terminated with nothing left (no domain, no disk)."""

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




def test_run_boot_console_terminate_on_qemu(libvirt_cloud: LiveCloud, tiny_image: Any,
                                            private_libvirtd: Any) -> None:
    import libvirt

    cloud = libvirt_cloud

    def aws(*args: str) -> Any:
        return json.loads(cloud.aws("ec2", *args).stdout or "{}")

    eki = aws("register-image", "--name", "tiny-k",
              "--image-location", str(tiny_image.kernel))["ImageId"]
    eri = aws("register-image", "--name", "tiny-r",
              "--image-location", str(tiny_image.ramdisk))["ImageId"]
    emi = aws("register-image", "--name", "tiny", "--image-location",
              str(tiny_image.rootfs), "--kernel-id", eki, "--ramdisk-id", eri)["ImageId"]
    aws("create-key-pair", "--key-name", "e2e")
    user_data = cloud.data_dir / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho user-data-ran\n")
    started = time.monotonic()
    res = aws("run-instances", "--image-id", emi, "--instance-type", "t1.micro",
              "--key-name", "e2e", "--user-data", f"file://{user_data}")
    iid = res["Instances"][0]["InstanceId"]

    def state() -> str:
        out = aws("describe-instances", "--instance-ids", iid)
        return str(out["Reservations"][0]["Instances"][0]["State"]["Name"])

    _wait(lambda: state() == "running", 120, "running")

    def console() -> str:
        out = aws("get-console-output", "--instance-id", iid)
        return console_text(out)

    _wait(lambda: console().strip() != "", 60, "the first console line")
    first_line = time.monotonic() - started
    _wait(lambda: "cloud-init" in console(), 120, "the guest's cloud-init")
    print(f"RunInstances to first console line: {first_line:.1f}s")
    conn = libvirt.open(private_libvirtd.uri)
    try:
        assert iid in [d.name() for d in conn.listAllDomains(0)]
        aws("terminate-instances", "--instance-ids", iid)
        _wait(lambda: state() == "terminated", 120, "terminated")
        assert iid not in [d.name() for d in conn.listAllDomains(0)]
    finally:
        conn.close()
    assert not (cloud.data_dir / "node" / "images" / "instances" / iid).exists()
