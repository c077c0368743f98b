"""Image bundles: bit-exact round trips, digest checks, wrong keys, manifest signatures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloudctl.images.bundle import bundle_image, unbundle
from cloudctl.images.keys import ensure_bundle_keypair, ensure_cloud_bundle_cert
from cloudctl.pki import CertPaths
from nodectl.bundle import (
    MANIFEST_VERSION,
    BundleError,
    parse_manifest,
    verify_signature,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertPaths]:
    ca = tmp_path_factory.mktemp("ca")
    other = tmp_path_factory.mktemp("other-ca")
    return {
        "cloud": ensure_cloud_bundle_cert(ca),
        "user": ensure_bundle_keypair(ca, CertPaths(ca / "user.pem", ca / "user.key"), "user"),
        "stranger": ensure_cloud_bundle_cert(other),
    }


def _image(path: Path, size: int) -> Path:
    # random head (incompressible) and a zero tail (sparse-ish), odd size
    head = min(size, 3 * 1024 * 1024 + 17)
    path.write_bytes(os.urandom(head) + b"\0" * (size - head))
    return path


def _bundle(tmp_path: Path, keys: dict[str, CertPaths], size: int, kind: str = "machine",
            part_size: int = 1024 * 1024) -> tuple[Path, Path]:
    img = _image(tmp_path / "disk.img", size)
    progress: list[tuple[str, int, int]] = []
    result = bundle_image(img, kind, keys["user"].cert, keys["user"].key, keys["cloud"].cert,
                          tmp_path / "bundle", lambda *a: progress.append(a),
                          user="000000000001", part_size=part_size)
    assert progress and progress[-1][1] == size == progress[-1][2]
    return img, result.manifest


def test_round_trip_is_bit_exact_with_cloud_and_user_keys(
        tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    img, manifest = _bundle(tmp_path, keys, 9 * 1024 * 1024 + 5)
    m = parse_manifest(manifest.read_bytes())
    assert len(m.parts) > 2
    assert [p.filename for p in m.parts][:2] == ["disk.img.part.00", "disk.img.part.01"]
    assert m.kind == "machine" and m.image_size == img.stat().st_size
    assert m.bundled_size == sum((manifest.parent / p.filename).stat().st_size for p in m.parts)
    for who in ("cloud", "user"):
        out = unbundle(manifest, None, keys[who].key, tmp_path / f"out-{who}")
        assert out.read_bytes() == img.read_bytes()


def test_manifest_format_and_signature(tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    _, manifest = _bundle(tmp_path, keys, 100_000, kind="kernel")
    text = manifest.read_bytes()
    for tag in (b"<version>" + MANIFEST_VERSION.encode(), b"<bundler>", b"<machine_configuration>",
                b"<kernel_id>true</kernel_id>", b"<type>kernel</type>",
                b'<digest algorithm="SHA1">', b'<ec2_encrypted_key algorithm="AES-128-CBC">',
                b"<user_encrypted_iv>", b'<parts count="1">', b'<part index="0">',
                b"<signature>"):
        assert tag in text
    verify_signature(text, keys["user"].cert.read_bytes())
    with pytest.raises(BundleError, match="signature"):
        verify_signature(text.replace(b"<type>kernel</type>", b"<type>machine</type>"),
                         keys["user"].cert.read_bytes())
    with pytest.raises(BundleError, match="signature"):
        verify_signature(text, keys["cloud"].cert.read_bytes())


def test_tampered_part_is_a_digest_error(tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    _, manifest = _bundle(tmp_path, keys, 3 * 1024 * 1024)
    part = manifest.parent / "disk.img.part.01"
    data = bytearray(part.read_bytes())
    data[100] ^= 0x01
    part.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(BundleError, match="digest|decrypt"):
        unbundle(manifest, None, keys["cloud"].key, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


def test_missing_part_fails(tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    _, manifest = _bundle(tmp_path, keys, 3 * 1024 * 1024)
    (manifest.parent / "disk.img.part.00").unlink()
    with pytest.raises(FileNotFoundError):
        unbundle(manifest, None, keys["cloud"].key, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_key_is_an_error(tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    _, manifest = _bundle(tmp_path, keys, 200_000)
    with pytest.raises(BundleError, match="decrypt"):
        unbundle(manifest, None, keys["stranger"].key, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tampered_manifest_digest_is_an_error(tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    _, manifest = _bundle(tmp_path, keys, 200_000)
    m = parse_manifest(manifest.read_bytes())
    manifest.write_bytes(manifest.read_bytes().replace(m.image_digest.encode(), b"0" * 40))
    with pytest.raises(BundleError, match="image digest"):
        unbundle(manifest, None, keys["cloud"].key, tmp_path / "out")


def test_empty_image_round_trips(tmp_path: Path, keys: dict[str, CertPaths]) -> None:
    img, manifest = _bundle(tmp_path, keys, 0, kind="ramdisk")
    assert unbundle(manifest, None, keys["cloud"].key, tmp_path / "out").read_bytes() == b""
    assert parse_manifest(manifest.read_bytes()).ramdisk_id == "true"


def test_not_a_manifest() -> None:
    with pytest.raises(BundleError):
        parse_manifest(b"<html/>")
    with pytest.raises(BundleError):
        parse_manifest(b"not xml")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_manifest_with_a_dtd_is_refused_in_any_encoding(encoding: str) -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 8))
    doc = (f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
           f'<!DOCTYPE manifest [<!ENTITY l0 "lol">{laughs}]><manifest>&l7;</manifest>')
    with pytest.raises(BundleError, match="DTD"):
        parse_manifest(doc.encode(encoding))


@pytest.mark.parametrize("field", ['count="x"', 'count="99999999999999999999"'])
def test_manifest_numbers_are_checked(field: str) -> None:
    doc = (f"<manifest><image><name>n</name><digest>00</digest><size>1</size>"
           f"<parts {field}></parts></image></manifest>")
    with pytest.raises(BundleError):
        parse_manifest(doc.encode())
