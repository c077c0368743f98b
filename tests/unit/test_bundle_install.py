"""``cloudctl image install`` against the AWS API shapes (moto stands in for AWS).

The cloud's own S3 and RegisterImage are tested by their API tests; here the
installer must drive the real boto3 shapes: put_object for every part and the
manifest (last), then register_image with ``bucket/prefix.manifest.xml``. The
uploaded bundle must unbundle bit-exact from what S3 holds. Also the
``cloudctl image bundle``/``unbundle`` commands on a scratch data directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from cloudctl.cli.main import main  # noqa: E402
from cloudctl.images.bundle import unbundle  # noqa: E402
from cloudctl.images.install import install_image  # noqa: E402
from cloudctl.images.keys import ensure_bundle_keypair, ensure_cloud_bundle_cert  # noqa: E402
from cloudctl.pki import CertPaths  # noqa: E402
from nodectl.bundle import BundlePart  # noqa: E402


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    with moto.mock_aws():
        yield


def test_install_uploads_parts_then_manifest_and_registers(aws: None, tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    cloud = ensure_cloud_bundle_cert(ca)
    user = ensure_bundle_keypair(ca, CertPaths(ca / "u.pem", ca / "u.key"), "u")
    img = tmp_path / "tiny.img"
    img.write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    s3 = boto3.client("s3", region_name="us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    events: list[tuple[str, int, int]] = []
    result = install_image(file=img, kind="machine", bucket="images", name="tiny",
                           cert=user.cert, key=user.key, cloud_cert=cloud.cert, s3=s3, ec2=ec2,
                           progress=lambda *a: events.append(a))
    assert result.image_id.startswith("ami-")
    assert result.image_location == "images/tiny.img.manifest.xml"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="images")["Contents"])
    assert keys == ["tiny.img.manifest.xml", "tiny.img.part.00"]
    assert ("upload", 1, 1) in events
    manifest = s3.get_object(Bucket="images", Key="tiny.img.manifest.xml")["Body"].read()

    def read_part(part: BundlePart) -> Iterator[bytes]:
        yield s3.get_object(Bucket="images", Key=part.filename)["Body"].read()

    out = unbundle(manifest, read_part, cloud.key, tmp_path / "back.img")
    assert out.read_bytes() == img.read_bytes()
    described = ec2.describe_images(ImageIds=[result.image_id])["Images"]
    assert described and described[0]["Name"] == "tiny"


def test_cli_bundle_and_unbundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    img = tmp_path / "kernel.bin"
    img.write_bytes(os.urandom(300_000))
    assert main(["--data-dir", str(data), "--output", "json", "image", "bundle",
                 "--file", str(img), "--type", "kernel", "-d", str(tmp_path / "b")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Manifest"].endswith("kernel.bin.manifest.xml") and len(out["Parts"]) == 1
    assert (data / "ca" / "cloud-bundle.key").exists()
    (tmp_path / "u").mkdir()
    assert main(["--data-dir", str(data), "image", "unbundle", "-m", out["Manifest"],
                 "-d", str(tmp_path / "u")]) == 0
    assert (tmp_path / "u" / "kernel.bin").read_bytes() == img.read_bytes()
