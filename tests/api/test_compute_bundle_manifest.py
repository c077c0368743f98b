"""Bundle manifests are tenant data: RegisterImage checks them, the node never fetches
a URL of theirs.

A tenant uploads a real bundle (``cloudctl.images.bundle``) to S3 and registers it
through boto3. The manifest's signature must verify with one of the account's IAM
signing certificates (as Eucalyptus): unsigned-by-a-registered-key and tampered
manifests answer ``InvalidManifest``. A manifest whose parts name a ``<get-url>``
(``file:///etc/shadow``, an HTTP listener on loopback the test runs), even signed
by the tenant, is refused too, and nothing is ever fetched from the listener. At
the node, staging a manifest with a ``<get-url>`` fails before any fetch.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from cloudctl.images.bundle import bundle_image
from cloudctl.images.install import upload_bundle
from cloudctl.images.keys import cloud_bundle_paths
from nodectl.bundle import signed_text
from tests.support import LiveCloud


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"secret")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Hits,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", hits
    server.shutdown()
    server.server_close()


def _keypair(directory: Path, name: str) -> tuple[Path, Path, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, key


def _resign(text: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """The manifest with its <signature> redone by ``key`` (what its bundler can do)."""
    signature = key.sign(signed_text(text), padding.PKCS1v15(), hashes.SHA1()).hex()
    head, _, rest = text.partition(b"<signature>")
    return head + b"<signature>" + signature.encode() + b"</signature>" + \
        rest.partition(b"</signature>")[2]


def test_register_image_checks_manifest(sqlite_cloud: LiveCloud, tmp_path: Path,
                                        listener: tuple[str, list[str]]) -> None:
    cloud = sqlite_cloud
    url, hits = listener
    ec2, s3, iam = cloud.client("ec2"), cloud.client("s3"), cloud.client("iam")
    cert, key_path, key = _keypair(tmp_path, "bundler")
    stranger = _keypair(tmp_path, "stranger")[2]
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(300_000))
    cloud_cert = cloud_bundle_paths(cloud.data_dir / "ca").cert
    bucket = f"bundles-{uuid.uuid4().hex[:8]}"
    bundle = bundle_image(image, "machine", cert, key_path, cloud_cert, tmp_path / "b",
                          part_size=100_000)
    location = upload_bundle(s3, bundle, bucket)
    text = bundle.manifest.read_bytes()
    prefix = bundle.manifest.name[:-len(".manifest.xml")]

    def register(body: bytes, name: str) -> str:
        s3.put_object(Bucket=bucket, Key=f"{name}.manifest.xml", Body=body)
        return str(ec2.register_image(Name=name, ImageLocation=f"{bucket}/{name}.manifest.xml",
                                      Architecture="x86_64")["ImageId"])

    def refused(body: bytes, name: str) -> str:
        with pytest.raises(ClientError) as err:
            register(body, name)
        assert err.value.response["Error"]["Code"] == "InvalidManifest", err.value.response
        return str(err.value.response["Error"]["Message"])

    # no signing certificate registered yet: the signature cannot be verified
    assert "signature" in refused(text, "unverified")
    iam.upload_signing_certificate(CertificateBody=cert.read_text())
    image_id = ec2.register_image(Name="good", ImageLocation=location)["ImageId"]
    assert image_id.startswith("emi-")

    # tampered: a part digest and the image size changed, signature left alone
    first = bundle.manifest_data.parts[0].digest.encode()
    assert "signature" in refused(text.replace(first, b"0" * 40, 1), "tampered-digest")
    assert "signature" in refused(text.replace(b"<size>300000</size>", b"<size>300001</size>"),
                                  "tampered-size")
    assert "signature" in refused(_resign(text, stranger), "stranger")  # unregistered key

    # <get-url> in a manifest signed by its (registered) bundler: still refused
    part = f"<filename>{prefix}.part.00</filename>".encode()
    for target in ("file:///etc/shadow", url + "probe"):
        evil = _resign(text.replace(part, part + f"<get-url>{target}</get-url>".encode()), key)
        assert "get-url" in refused(evil, f"url-{len(hits)}-{target[:4]}")
    assert hits == []
    names = {i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert "good" in names and not names & {"unverified", "tampered-digest", "stranger"}


def test_node_refuses_manifest_urls(tmp_path: Path, listener: tuple[str, list[str]]) -> None:
    """Defense in depth at the node: a manifest naming a URL is refused before any fetch."""
    from cloudctl.images.keys import ensure_cloud_bundle_cert
    from nodectl.client import Artifact
    from nodectl.imagecache import ImageCache
    from nodectl.staging import StagingError, stage_artifact

    url, hits = listener
    cloud = ensure_cloud_bundle_cert(tmp_path / "ca")
    cert, key_path, key = _keypair(tmp_path, "bundler")
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(50_000))
    bundle = bundle_image(image, "machine", cert, key_path, cloud.cert, tmp_path / "b")
    text = bundle.manifest.read_bytes()
    part = f"<filename>{bundle.manifest_data.parts[0].filename}</filename>".encode()
    cache = ImageCache(tmp_path / "cache")
    for n, target in enumerate((url + "part", "file:///etc/shadow")):
        bundle.manifest.write_bytes(_resign(text.replace(
            part, part + f"<get-url>{target}</get-url>".encode()), key))
        artifact = Artifact(image_id=f"emi-0000000{n}", kind="machine",
                            bundle_manifest_url=bundle.manifest.resolve().as_uri())
        with pytest.raises(StagingError, match="names a URL"):
            stage_artifact(cache, artifact, bundle_key=cloud.key.read_bytes())
    assert hits == []
    bundle.manifest.write_bytes(text)  # the same bundle without URLs stages
    ok = Artifact(image_id="emi-00000009", kind="machine",
                  bundle_manifest_url=bundle.manifest.resolve().as_uri())
    assert stage_artifact(cache, ok, bundle_key=cloud.key.read_bytes()).read_bytes() == \
        image.read_bytes()


def test_cli_install_registers_its_signing_certificate(sqlite_cloud: LiveCloud,
                                                       tmp_path: Path) -> None:
    """``cloudctl image install`` registers the bundler's certificate, so its signed
    manifests verify (twice: the second upload of the same certificate is no error)."""
    image = tmp_path / "root.img"
    image.write_bytes(os.urandom(70_000))
    for name in ("cli-one", "cli-two"):
        out = sqlite_cloud.cli("--output", "json", "image", "install", "--file", str(image),
                               "--type", "machine", "--bucket", "cli-bundles", "--name", name,
                               "--prefix", name)
        assert '"ImageId": "emi-' in out.stdout
    certs = sqlite_cloud.client("iam").list_signing_certificates()["Certificates"]
    assert len(certs) >= 1
