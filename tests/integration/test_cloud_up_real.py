"""The README's first command with real guests: ``cloudctl up`` and nothing else.

One slow test (SQLite only, not per database): ``cloudctl up`` with no node option
and no libvirt environment starts its own private libvirtd under the data dir and
says so; the demo image it registers boots under QEMU (TCG) with user data, whose
output shows on the console (``cloudctl instance console``); ``cloudctl instance
ssh`` logs in with the key pair through the cloud's namespace; killing libvirtd
gets it restarted with the guest alive; 8 t1.micro run at once on this 2-core host
(the CPU overcommit); stopping the cloud stops libvirtd, its guests and namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveCloud, new_cloud, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0
                       or shutil.which("dnsmasq") is None or shutil.which("ssh") is None,
                       reason="needs root, libvirtd, dnsmasq and an ssh client"),
]

TIMINGS: dict[str, float] = {}


@pytest.fixture
def real_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveCloud]:
    for key in ("CLOUDCTL_LOCAL_NODE", "CLOUDCTL_LIBVIRT_URI", "CLOUDCTL_DEMO_IMAGE",
                "CLOUDCTL_LOCAL_NODE_CORES", "CLOUDCTL_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CLOUDCTL_STOP_GRACE", "5")
    cloud = new_cloud()
    cloud.node = ""  # no --node: what the README's command does
    started = time.monotonic()
    try:
        cloud.start(timeout=120)
        TIMINGS["up_to_health"] = round(time.monotonic() - started, 1)
        yield cloud
    finally:
        cloud.stop()
        print("timings:", json.dumps(TIMINGS))
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _cloudctl(cloud: LiveCloud, *args: str, timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
    env = cloud.env()
    return subprocess.run([sys.executable, "-m", "cloudctl", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _console(cloud: LiveCloud, iid: str) -> str:
    return _cloudctl(cloud, "instance", "console", iid).stdout


def _demo_image(ec2: Any) -> str:
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["cloudctl-tiny-guest"]}])
    found = [i["ImageId"] for i in images["Images"] if i["ImageId"].startswith("emi-")]
    return found[0] if found else ""


def test_up_runs_real_guests_reachable_by_console_and_ssh(real_cloud: LiveCloud) -> None:
    import libvirt

    cloud = real_cloud
    log = cloud.log_path.read_text()
    record = json.loads((cloud.data_dir / "run" / "up.json").read_text())
    assert "cloud is up on " + cloud.endpoint in log
    assert "fake" not in record["node"] and "fake:" not in log
    netns, socket = record["netns"], record["libvirt_socket"]
    assert socket == str(cloud.data_dir / "libvirtd" / "run" / "libvirt" / "libvirt-sock")
    for shown in (f"libvirtd socket  {socket}", f"network ns       {netns}",
                  f"data dir         {cloud.data_dir}"):
        assert shown in log
    assert Path("/run/netns", netns).exists()

    ec2 = cloud.client("ec2")
    emi = wait_for(lambda: _demo_image(ec2), 120, "the demo image registered")
    key = cloud.data_dir / "key.pem"
    key.write_text(ec2.create_key_pair(KeyName="first")["KeyMaterial"])
    key.chmod(0o600)
    ec2.authorize_security_group_ingress(GroupName="default", IpProtocol="tcp", FromPort=22,
                                         ToPort=22, CidrIp="0.0.0.0/0")
    user_data = "#!/bin/sh\necho first-run-user-data-$(cat /run/instance-id)\n"
    started = time.monotonic()
    iid = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                            KeyName="first", UserData=user_data)["Instances"][0]["InstanceId"]
    console = wait_for(lambda: (lambda c: c if "cloud-init: done" in c else "")(
        _console(cloud, iid)), 180, f"{iid} console shows cloud-init done", interval=1.0)
    TIMINGS["boot_to_console_user_data"] = round(time.monotonic() - started, 1)
    assert f"first-run-user-data-{iid}" in console, console
    assert "fake: booted" not in console
    # the boto3 view of the same console (botocore decodes the base64)
    assert f"first-run-user-data-{iid}" in ec2.get_console_output(InstanceId=iid)["Output"]

    ssh = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(_cloudctl(
        cloud, "instance", "ssh", iid, "-i", str(key), "--", "cat", "/run/instance-id")),
        60, "ssh through cloudctl instance ssh")
    assert ssh.stdout.strip() == iid, ssh.stderr
    TIMINGS["boot_to_ssh"] = round(time.monotonic() - started, 1)

    # libvirtd dies: the cloud restarts it and the guest lives on
    tini = int(record["tini_pid"])
    daemon_pid = int(subprocess.run(["pgrep", "-P", str(tini), "libvirtd"], capture_output=True,
                                    text=True, check=True).stdout.split()[0])
    os.kill(daemon_pid, signal.SIGKILL)
    wait_for(lambda: "private libvirtd restarted" in cloud.log_path.read_text(), 30,
             "libvirtd restarted")
    again = _cloudctl(cloud, "instance", "ssh", iid, "-i", str(key), "--", "echo", "alive")
    assert again.stdout.strip() == "alive", again.stderr

    # 8 tiny guests at once on this 2-core host (the default CPU overcommit of 4)
    started = time.monotonic()
    more = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=emi, MinCount=7, MaxCount=7, InstanceType="t1.micro",
        UserData=user_data)["Instances"]]
    for other in more:
        text = wait_for(lambda o=other: (lambda c: c if "cloud-init: done" in c else "")(
            _console(cloud, o)), 240, f"{other} booted", interval=2.0)
        assert f"first-run-user-data-{other}" in text
    TIMINGS["seven_more_booted"] = round(time.monotonic() - started, 1)
    conn = libvirt.open(record["libvirt_uri"])
    try:
        assert len(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)) == 8
    finally:
        conn.close()

    # stopping the cloud stops libvirtd, its guests and its namespace
    cloud.stop()
    assert cloud.process is not None and cloud.process.returncode == 0
    assert not Path("/run/netns", netns).exists()
    assert not Path(socket).exists()
    assert not (cloud.data_dir / "endpoint").exists()
