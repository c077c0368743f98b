"""EC2 end to end on real QEMU (TCG) guests with EDGE networking and metadata.

The cloud's all-in-one node drives a private libvirtd; the cloud finds its network
namespace and applies the network view there (``br-cloud``, dnsmasq with static
leases, the metadata DNAT to netd's proxy, security groups in nftables). The test
works only through the AWS CLI and boto3, ``ip netns exec`` and ssh:

- ``create-key-pair``, ``run-instances`` with the key, user data, a security group
  and an instance profile; the console shows the DHCP lease, the metadata fetch
  and the user data; DescribeInstances shows addresses, MAC and groups;
- ssh with the key pair's private key from the cloud's namespace (the instances'
  gateway) works; from a client namespace routed through the host, the security
  group without port 22 blocks it and authorising 22 admits it;
- from inside each guest, metadata answers its own instance id; the instance
  profile's credentials come from ``iam/security-credentials/<role>`` and work
  against the API with the role's permissions only;
- terminate: no domain, no disk, no lease, no nft element, no tap left.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveCloud, console_text, new_cloud, teardown_local_network, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0
                       or shutil.which("dnsmasq") is None or shutil.which("ssh") is None,
                       reason="needs root, libvirtd, dnsmasq and an ssh client"),
]

CLIENT_NET = ("192.0.2.1", "192.0.2.2")  # TEST-NET-1, only inside our namespaces
TIMINGS: dict[str, float] = {}


_wait = wait_for


def _run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


class World:
    """The live cloud, its node's namespace, a client namespace and helpers."""

    def __init__(self, cloud: LiveCloud, netns: str, key: Path) -> None:
        self.cloud, self.netns, self.key = cloud, netns, key
        self.client_ns = f"e2e-{secrets.token_hex(3)}"

    def aws(self, *args: str) -> Any:
        return json.loads(self.cloud.aws("ec2", *args).stdout or "{}")

    def instance(self, iid: str) -> dict[str, Any]:
        out = self.aws("describe-instances", "--instance-ids", iid)
        return dict(out["Reservations"][0]["Instances"][0])

    def console(self, iid: str) -> str:
        return console_text(self.aws("get-console-output", "--instance-id", iid))

    def ssh(self, ip: str, command: str, netns: str | None = None, timeout: float = 20
            ) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", netns or self.netns, "ssh", "-i", str(self.key),
                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", "-o", "ConnectTimeout=4", "-o", "LogLevel=ERROR",
                    f"root@{ip}", command, check=False, timeout=timeout)

    def add_client_namespace(self) -> None:
        """A namespace behind the host (veth into the node's namespace), as a peer
        whose traffic to instances is forwarded and so meets the security groups."""
        host_ip, client_ip = CLIENT_NET
        _run("ip", "netns", "add", self.client_ns)
        _run("ip", "-n", self.client_ns, "link", "add", "e2e-c", "type", "veth", "peer",
             "name", "e2e-h", "netns", self.netns)
        _run("ip", "-n", self.client_ns, "addr", "add", f"{client_ip}/30", "dev", "e2e-c")
        _run("ip", "-n", self.client_ns, "link", "set", "lo", "up")
        _run("ip", "-n", self.client_ns, "link", "set", "e2e-c", "up")
        _run("ip", "-n", self.client_ns, "route", "add", "default", "via", host_ip)
        _run("ip", "-n", self.netns, "addr", "add", f"{host_ip}/30", "dev", "e2e-h")
        _run("ip", "-n", self.netns, "link", "set", "e2e-h", "up")

    def remove_client_namespace(self) -> None:
        _run("ip", "-n", self.netns, "link", "del", "e2e-h", check=False)
        _run("ip", "netns", "delete", self.client_ns, check=False)


@pytest.fixture
def own_libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private libvirtd (and network namespace) for this test alone: no other test's
    guests or network in the way."""
    from nodectl.libvirtd import PrivateLibvirtd

    daemon = PrivateLibvirtd(tmp_path_factory.mktemp("e2e-libvirtd"))
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def world(own_libvirtd: Any, tmp_path: Path) -> Iterator[World]:
    private_libvirtd = own_libvirtd
    env = {"CLOUDCTL_LOCAL_NODE": "libvirt", "CLOUDCTL_LIBVIRT_URI": private_libvirtd.uri,
           "CLOUDCTL_DEMO_IMAGE": "0", "CLOUDCTL_STOP_GRACE": "5"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cloud = new_cloud()
    w = World(cloud, private_libvirtd.netns, tmp_path / "key.pem")
    try:
        cloud.start()
        w.add_client_namespace()
        yield w
    finally:
        w.remove_client_namespace()
        cloud.stop()
        teardown_local_network(cloud, private_libvirtd.netns)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        print("timings:", json.dumps(TIMINGS))


def _register(w: World, image: Any) -> str:
    eki = w.aws("register-image", "--name", "e2e-k",
                "--image-location", str(image.kernel))["ImageId"]
    eri = w.aws("register-image", "--name", "e2e-r",
                "--image-location", str(image.ramdisk))["ImageId"]
    return str(w.aws("register-image", "--name", "e2e", "--image-location", str(image.rootfs),
                     "--kernel-id", eki, "--ramdisk-id", eri)["ImageId"])


def _instance_profile(w: World) -> str:
    iam = w.cloud.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="e2e-reader", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="e2e-reader", PolicyName="describe", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]}))
    iam.create_instance_profile(InstanceProfileName="e2e-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="e2e-profile", RoleName="e2e-reader")
    return "e2e-profile"


def _launch(w: World, emi: str, group: str, user_data: Path,
            profile: str | None = None) -> tuple[str, float]:
    args = ["run-instances", "--image-id", emi, "--instance-type", "t1.micro",
            "--key-name", "e2e", "--user-data", f"file://{user_data}",
            "--security-group-ids", group]
    if profile:
        args += ["--iam-instance-profile", f"Name={profile}"]
    started = time.monotonic()
    return str(w.aws(*args)["Instances"][0]["InstanceId"]), started


def _booted(w: World, iid: str, started: float, tag: str) -> str:
    _wait(lambda: w.instance(iid)["State"]["Name"] == "running", 120, f"{iid} running")
    TIMINGS[f"{tag}_running"] = round(time.monotonic() - started, 1)
    console = _wait(lambda: (lambda c: c if "cloud-init: done" in c else "")(w.console(iid)),
                    180, f"{iid} cloud-init done", interval=1.0)
    TIMINGS[f"{tag}_cloud_init_done"] = round(time.monotonic() - started, 1)
    return str(console)


def test_instance_network_metadata_ssh_groups_credentials(world: World, tiny_image: Any,
                                                         own_libvirtd: Any) -> None:
    import libvirt

    w = world
    emi = _register(w, tiny_image)
    w.key.write_text(w.aws("create-key-pair", "--key-name", "e2e")["KeyMaterial"])
    w.key.chmod(0o600)
    group = w.aws("create-security-group", "--group-name", "e2e-ssh",
                  "--description", "no ssh yet")["GroupId"]
    profile = _instance_profile(w)
    user_data = w.cloud.data_dir / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho e2e-user-data-marker-$(cat /run/instance-id)\n")

    a, started = _launch(w, emi, group, user_data, profile)
    console = _booted(w, a, started, "a")
    desc = w.instance(a)
    ip, mac = desc["PrivateIpAddress"], desc["NetworkInterfaces"][0]["MacAddress"]
    assert ip.startswith("10.111.") and mac.startswith("d0:0d:")
    assert desc["PublicIpAddress"].startswith("198.51.100.")
    assert desc["PrivateDnsName"] and desc["PublicDnsName"]
    assert desc["SecurityGroups"] == [{"GroupId": group, "GroupName": "e2e-ssh"}]
    assert f"cloud-init: eth0 {ip}/16" in console, console
    assert f"cloud-init: instance-id {a}" in console, console
    assert "cloud-init: ssh key installed" in console, console
    assert f"e2e-user-data-marker-{a}" in console, console

    # ssh from the cloud's namespace (the gateway) with the key pair's private key
    out = w.ssh(ip, "echo ok")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    TIMINGS["a_ssh_ok"] = round(time.monotonic() - started, 1)

    # from a peer behind the host, the group decides
    blocked = w.ssh(ip, "echo ok", netns=w.client_ns, timeout=15)
    assert blocked.returncode != 0, blocked.stdout
    w.aws("authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp",
          "--port", "22", "--cidr", "0.0.0.0/0")
    admitted = _wait(lambda: w.ssh(ip, "echo ok", netns=w.client_ns).stdout.strip() == "ok",
                     30, "ssh admitted after authorize")
    assert admitted

    # metadata from inside the guest: its own id, and the role's credentials
    md = "http://169.254.169.254/latest/meta-data"
    own = w.ssh(ip, f"timeout 5 wget -qO- {md}/instance-id")
    assert own.stdout.strip() == a, own
    roles = w.ssh(ip, f"timeout 5 wget -qO- {md}/iam/security-credentials/").stdout.split()
    assert roles == ["e2e-reader"], roles
    creds = json.loads(w.ssh(
        ip, f"timeout 5 wget -qO- {md}/iam/security-credentials/e2e-reader").stdout)
    assert creds["Code"] == "Success" and creds["Type"] == "AWS-HMAC"
    assert creds["AccessKeyId"].startswith("ASIA")
    info = json.loads(w.ssh(ip, f"timeout 5 wget -qO- {md}/iam/info").stdout)
    assert info["InstanceProfileArn"].endswith(":instance-profile/e2e-profile")
    again = json.loads(w.ssh(
        ip, f"timeout 5 wget -qO- {md}/iam/security-credentials/e2e-reader").stdout)
    assert again["AccessKeyId"] == creds["AccessKeyId"]  # cached, not re-issued per call
    role_ec2 = w.cloud.client("ec2", access_key=creds["AccessKeyId"],
                              secret_key=creds["SecretAccessKey"], token=creds["Token"])
    seen = [i["InstanceId"] for r in role_ec2.describe_instances()["Reservations"]
            for i in r["Instances"]]
    assert a in seen
    sts = w.cloud.client("sts", access_key=creds["AccessKeyId"],
                         secret_key=creds["SecretAccessKey"], token=creds["Token"])
    assert sts.get_caller_identity()["Arn"].endswith(f":assumed-role/e2e-reader/{a}")
    role_iam = w.cloud.client("iam", access_key=creds["AccessKeyId"],
                              secret_key=creds["SecretAccessKey"], token=creds["Token"])
    with pytest.raises(Exception) as denied:
        role_iam.list_users()
    assert "AccessDenied" in str(denied.value)
    with pytest.raises(Exception) as denied_ec2:
        role_ec2.terminate_instances(InstanceIds=[a])
    assert "UnauthorizedOperation" in str(denied_ec2.value) or \
        "AccessDenied" in str(denied_ec2.value)

    # a second instance sees its own metadata
    b, started_b = _launch(w, emi, group, user_data)
    _booted(w, b, started_b, "b")
    ip_b = w.instance(b)["PrivateIpAddress"]
    assert ip_b != ip
    own_b = w.ssh(ip_b, f"timeout 5 wget -qO- {md}/instance-id")
    assert own_b.stdout.strip() == b, own_b
    assert w.ssh(ip, f"timeout 5 wget -qO- {md}/instance-id").stdout.strip() == a
    no_iam = w.ssh(ip_b, f"timeout 5 wget -qO- {md}/iam/security-credentials/")
    assert no_iam.returncode != 0 and not no_iam.stdout.strip()

    # terminate: nothing left
    started_t = time.monotonic()
    w.aws("terminate-instances", "--instance-ids", a, b)
    for iid in (a, b):
        _wait(lambda iid=iid: w.instance(iid)["State"]["Name"] == "terminated", 120,
              f"{iid} terminated")
    TIMINGS["terminate_both"] = round(time.monotonic() - started_t, 1)
    conn = libvirt.open(own_libvirtd.uri)
    try:
        names = [d.name() for d in conn.listAllDomains(0)]
    finally:
        conn.close()
    assert a not in names and b not in names
    for iid in (a, b):
        assert not (w.cloud.data_dir / "node" / "images" / "instances" / iid).exists()
    state = w.cloud.data_dir / "netd" / "local"

    def leftovers() -> list[str]:
        hosts = (state / "dhcp-hosts").read_text()
        leases = (state / "dnsmasq.leases").read_text() \
            if (state / "dnsmasq.leases").exists() else ""
        ruleset = _run("ip", "netns", "exec", w.netns, "nft", "list", "table", "inet",
                       "netd").stdout
        links = _run("ip", "-n", w.netns, "-o", "link").stdout
        left = [f"static lease {x}" for x in (mac, ip, ip_b) if x in hosts]
        left += [f"lease {x}" for x in (ip, ip_b) if x in leases]
        left += [f"nft element {x}" for x in (ip, ip_b)
                 if f"{x} " in ruleset or f"{x}," in ruleset or f"{x}\n" in ruleset]
        left += ["tap"] if " vn-" in links else []
        return left

    deadline = time.monotonic() + 20
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers() == []
