"""The instance metadata service over its Unix socket, as netd's proxy reaches it
(``X-Forwarded-For: <instance ip>``): the tree, user data, IMDSv2, the signed identity
document, and one instance never seeing another's data."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.test_compute_instances import register_image_set, wait_for
from tests.support import LiveCloud, new_cloud


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def md(cloud: LiveCloud, ip: str, path: str, method: str = "GET",
       headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = UnixConnection(str(cloud.data_dir / "run" / "metadata.sock"))
    conn.request(method, path, headers={"X-Forwarded-For": ip, **(headers or {})})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


@pytest.fixture(scope="module")
def md_cloud() -> Iterator[LiveCloud]:
    import os

    saved = os.environ.get("CLOUDCTL_LOCAL_NODE")
    os.environ["CLOUDCTL_LOCAL_NODE"] = "fake"
    cloud = new_cloud()
    try:
        cloud.start()
    finally:
        if saved is None:
            os.environ.pop("CLOUDCTL_LOCAL_NODE", None)
        else:
            os.environ["CLOUDCTL_LOCAL_NODE"] = saved
    yield cloud
    cloud.stop()


def test_metadata_tree_isolation_imdsv2(md_cloud: LiveCloud) -> None:
    ec2 = md_cloud.client("ec2")
    images = register_image_set(md_cloud, md_cloud.data_dir / "md-imgs")
    key = ec2.create_key_pair(KeyName="md-key")
    a = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1, KeyName="md-key",
                          UserData="secret-a")["Instances"][0]
    b = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1, UserData="secret-b",
                          MetadataOptions={"HttpTokens": "required"})["Instances"][0]
    ip_a, ip_b = a["PrivateIpAddress"], b["PrivateIpAddress"]
    assert ip_a != ip_b
    wait_for(lambda: md(md_cloud, ip_a, "/latest/meta-data/instance-id")[0] == 200)
    assert md(md_cloud, ip_a, "/latest/meta-data/instance-id") == (200, a["InstanceId"].encode())
    assert md(md_cloud, ip_a, "/latest/user-data") == (200, b"secret-a")
    assert md(md_cloud, ip_a, "/latest/meta-data/local-ipv4")[1] == ip_a.encode()
    assert md(md_cloud, ip_a, "/latest/meta-data/placement/availability-zone")[1] == \
        a["Placement"]["AvailabilityZone"].encode()
    assert md(md_cloud, ip_a, "/latest/meta-data/public-keys/")[1] == b"0=md-key"
    openssh = md(md_cloud, ip_a, "/latest/meta-data/public-keys/0/openssh-key")[1].decode()
    assert openssh.startswith("ssh-rsa ")
    assert key["KeyFingerprint"]
    listing = md(md_cloud, ip_a, "/latest/meta-data/")[1].decode().split("\n")
    assert "instance-id" in listing and "network/" in listing
    mac = md(md_cloud, ip_a, "/latest/meta-data/mac")[1].decode()
    assert md(md_cloud, ip_a, f"/latest/meta-data/network/interfaces/macs/{mac}/local-ipv4s")[
        1] == ip_a.encode()
    # isolation: an unknown address sees nothing, b never sees a's data
    assert md(md_cloud, "10.255.255.254", "/latest/meta-data/instance-id")[0] == 404
    assert md(md_cloud, ip_b, "/latest/meta-data/instance-id")[0] == 401  # tokens required
    status, token = md(md_cloud, ip_b, "/latest/api/token", "PUT",
                       {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200
    hdr = {"X-aws-ec2-metadata-token": token.decode()}
    assert md(md_cloud, ip_b, "/latest/meta-data/instance-id", headers=hdr) == (
        200, b["InstanceId"].encode())
    assert md(md_cloud, ip_b, "/latest/user-data", headers=hdr) == (200, b"secret-b")
    assert md(md_cloud, ip_a, "/latest/meta-data/instance-id", headers=hdr)[0] == 401
    assert md(md_cloud, ip_b, "/latest/meta-data/instance-id",
              headers={"X-aws-ec2-metadata-token": "bogus"})[0] == 401
    assert md(md_cloud, ip_b, "/latest/api/token", "PUT",
              {"X-aws-ec2-metadata-token-ttl-seconds": "0"})[0] == 400
    # the identity document, signed with the cloud CA key
    doc = md(md_cloud, ip_a, "/latest/dynamic/instance-identity/document")[1]
    assert json.loads(doc)["instanceId"] == a["InstanceId"]
    sig = base64.b64decode(md(md_cloud, ip_a, "/latest/dynamic/instance-identity/signature")[1])
    ca = x509.load_pem_x509_certificate((md_cloud.data_dir / "ca" / "ca.pem").read_bytes())
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(sig, doc, ec.ECDSA(hashes.SHA256()))
    ec2.terminate_instances(InstanceIds=[a["InstanceId"], b["InstanceId"]])
    wait_for(lambda: md(md_cloud, ip_a, "/latest/meta-data/instance-id")[0] == 404)
