"""The instance metadata service over its Unix socket, as netd's proxy reaches it
(``X-Forwarded-For: <instance ip>``): the tree, user data, IMDSv2, the signed identity
document, and one instance never seeing another's data; and netd's proxy in front
of it (token requests carrying ``X-Forwarded-For`` refused, the token sent with the
hop limit as IP TTL)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.support import LiveCloud


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


@pytest.fixture
def md_cloud(crash_shared: LiveCloud) -> LiveCloud:
    """A cloud on the fake node of the metadata tests alone: the shared cloud of the
    consecutive tests taking ``crash_shared`` (tests/api/conftest.py), where no other
    test's instance runs while these do."""
    return crash_shared


def test_metadata_tree_isolation_imdsv2(md_cloud: LiveCloud, tmp_path: Path) -> None:
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
    private_name = f"euca-{ip_a.replace('.', '-')}.eucalyptus.internal".encode()
    public_name = f"euca-{a['PublicIpAddress'].replace('.', '-')}.eucalyptus.localhost"
    assert md(md_cloud, ip_a, "/latest/meta-data/local-hostname")[1] == private_name
    assert md(md_cloud, ip_a, "/latest/meta-data/hostname")[1] == private_name
    assert md(md_cloud, ip_a, "/latest/meta-data/public-hostname")[1] == public_name.encode()
    assert a["PublicDnsName"] == public_name
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
    # a token request that came through a proxy (two hops) is refused
    assert md(md_cloud, f"203.0.113.9, {ip_b}", "/latest/api/token", "PUT",
              {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 403
    check_identity(md_cloud, ip_a, a["InstanceId"], tmp_path)
    ec2.terminate_instances(InstanceIds=[a["InstanceId"], b["InstanceId"]])
    wait_for(lambda: md(md_cloud, ip_a, "/latest/meta-data/instance-id")[0] == 404)
    # the next test on the shared cloud counts the instances
    wait_for(lambda: set(states(md_cloud, [a["InstanceId"], b["InstanceId"]]).values())
             == {"terminated"})


def check_identity(cloud: LiveCloud, ip: str, instance_id: str, tmp_path: Path) -> None:
    """The identity document verifies with the dedicated identity certificate (signature,
    pkcs7 and rsa2048, the latter two with openssl as AWS documents), not the CA key."""
    doc = md(cloud, ip, "/latest/dynamic/instance-identity/document")[1]
    assert json.loads(doc)["instanceId"] == instance_id
    listing = md(cloud, ip, "/latest/dynamic/instance-identity/")[1].split(b"\n")
    assert {b"document", b"signature", b"pkcs7", b"rsa2048"} <= set(listing)
    sig = base64.b64decode(md(cloud, ip, "/latest/dynamic/instance-identity/signature")[1])
    cert_path = cloud.data_dir / "ca" / "instance-identity.pem"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    public.verify(sig, doc, padding.PKCS1v15(), hashes.SHA256())
    ca = x509.load_pem_x509_certificate((cloud.data_dir / "ca" / "ca.pem").read_bytes())
    assert cert.subject != ca.subject and cert.issuer != ca.subject
    ca_public = ca.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):  # the CA key did not sign it
        ca_public.verify(sig, doc, ec.ECDSA(hashes.SHA256()))
    for kind in ("pkcs7", "rsa2048"):
        body = md(cloud, ip, f"/latest/dynamic/instance-identity/{kind}")[1].decode()
        p7 = tmp_path / kind
        p7.write_text(f"-----BEGIN PKCS7-----\n{body}\n-----END PKCS7-----\n")
        (tmp_path / "document").write_bytes(doc)
        out = subprocess.run(["openssl", "smime", "-verify", "-in", str(p7), "-inform", "PEM",
                              "-content", str(tmp_path / "document"), "-certfile",
                              str(cert_path), "-noverify"], capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout == doc
        other = subprocess.run(["openssl", "smime", "-verify", "-in", str(p7), "-inform", "PEM",
                                "-certfile", str(cloud.data_dir / "ca" / "ca.pem"), "-nointern",
                                "-noverify"], capture_output=True, timeout=30)
        assert other.returncode != 0  # nothing the CA certificate verifies


def test_proxy_refuses_forwarded_token_requests(md_cloud: LiveCloud) -> None:
    """netd's proxy process in front of the metadata socket: a token PUT carrying
    X-Forwarded-For answers 403 and reaches nobody; without it, the server answers."""
    import sys

    from tests.infra.postgres import free_port

    port = free_port()
    pidfile = md_cloud.data_dir / "run" / "mdproxy-test.pid"
    proc = subprocess.Popen([sys.executable, "-m", "netd.mdproxy", "--listen",
                             f"127.0.0.1:{port}", "--upstream",
                             f"unix:{md_cloud.data_dir / 'run' / 'metadata.sock'}",
                             "--pidfile", str(pidfile)])
    try:
        wait_for(pidfile.exists, timeout=20)

        def put(headers: dict[str, str]) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("PUT", "/latest/api/token", headers={
                "X-aws-ec2-metadata-token-ttl-seconds": "60", **headers})
            status = conn.getresponse().status
            conn.close()
            return status

        assert put({"X-Forwarded-For": "10.0.0.5"}) == 403
        assert put({"x-forwarded-for": "127.0.0.1"}) == 403
        assert put({}) == 404  # forwarded: 127.0.0.1 is no instance
    finally:
        proc.terminate()
        proc.wait(timeout=10)
