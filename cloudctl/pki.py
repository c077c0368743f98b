"""The cloud CA and service certificates (mutual TLS between controller and agents).

``ensure_ca`` creates, once, an EC P-256 CA under ``<data>/ca``; ``issue`` signs a
certificate for a service or agent name; ``ensure_identity_key`` makes the dedicated
RSA key that signs instance identity documents. Keys are written 0600; existing material
is never overwritten (initialisation is idempotent).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 825


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path


def write_private(path: Path, data: bytes, *, dir_mode: int = 0o777) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600), durably and
    atomically (a fsynced temporary file renamed over it); missing parent directories
    are made with ``dir_mode`` (less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _write_self_signed(paths: CertPaths, key: CertificateIssuerPrivateKeyTypes,
                       common_name: str, cloud_name: str, *, ca: bool) -> None:
    """A self-signed certificate for ``key`` (a CA: certificate signing; else digital
    signatures only) written beside its private key (0600)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, cloud_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0),
                                        critical=True)
    cert = builder.add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca,
                      content_commitment=False, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, encipher_only=False,
                      decipher_only=False), critical=True).sign(key, hashes.SHA256())
    write_private(paths.key, _key_pem(key))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_ca(ca_dir: Path, cloud_name: str = "cloudctl") -> CertPaths:
    """The CA certificate and key, created if absent."""
    paths = CertPaths(ca_dir / "ca.pem", ca_dir / "ca.key")
    if paths.cert.exists() and paths.key.exists():
        return paths
    key = ec.generate_private_key(ec.SECP256R1())
    _write_self_signed(paths, key, f"{cloud_name} cloud CA", cloud_name, ca=True)
    return paths


def issue(ca: CertPaths, out_dir: Path, name: str, hosts: list[str] | None = None) -> CertPaths:
    """A certificate for ``name`` (client and server use), created if absent."""
    paths = CertPaths(out_dir / f"{name}.pem", out_dir / f"{name}.key")
    if paths.cert.exists() and paths.key.exists():
        return paths
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(name)]
    for host in hosts or ["localhost", "127.0.0.1"]:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    write_private(paths.key, _key_pem(key))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


IDENTITY_NAME = "instance-identity"


def identity_paths(ca_dir: Path) -> CertPaths:
    return CertPaths(ca_dir / f"{IDENTITY_NAME}.pem", ca_dir / f"{IDENTITY_NAME}.key")


def ensure_identity_key(ca_dir: Path, cloud_name: str = "cloudctl") -> CertPaths:
    """The RSA-2048 key and self-signed certificate that sign instance identity
    documents (as AWS's public certificate per region), created if absent.

    Dedicated: the CA key only ever signs certificates, so nothing a metadata
    request makes the cloud sign can pass for a certificate, and publishing this
    certificate to tenants discloses nothing about the CA.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    paths = identity_paths(ca_dir)
    if paths.cert.exists() and paths.key.exists():
        return paths
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_self_signed(paths, key, f"{cloud_name} instance identity", cloud_name, ca=False)
    return paths
