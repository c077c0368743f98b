"""RSA key pairs for image bundles: the cloud's bundle certificate and a bundling user's.

The cloud CA (``cloudctl.pki``) is EC P-256, but the bundle format wraps the AES
key with RSA PKCS#1 v1.5, so the cloud gets its own RSA "cloud cert" for bundles,
``<data>/ca/cloud-bundle.{pem,key}``, signed by the cloud CA (what Eucalyptus
called cloud-cert.pem / cloud-pk.pem). ``ensure_bundle_keypair`` also makes the
RSA certificate a user signs manifests with when they have none of their own.
Existing material is never overwritten.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cloudctl.pki import CertPaths, ensure_ca, write_private

__all__ = ["CLOUD_BUNDLE_NAME", "cloud_bundle_paths", "ensure_bundle_keypair",
           "ensure_cloud_bundle_cert"]

CLOUD_BUNDLE_NAME = "cloud-bundle"
CERT_DAYS = 3650


def cloud_bundle_paths(ca_dir: Path) -> CertPaths:
    return CertPaths(ca_dir / f"{CLOUD_BUNDLE_NAME}.pem", ca_dir / f"{CLOUD_BUNDLE_NAME}.key")


def ensure_bundle_keypair(ca_dir: Path, out: CertPaths, common_name: str) -> CertPaths:
    """An RSA-2048 certificate at ``out`` signed by the cloud CA, created if absent."""
    if out.cert.exists() and out.key.exists():
        return out
    ca = ensure_ca(ca_dir)
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    write_private(out.key, key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def ensure_cloud_bundle_cert(ca_dir: Path) -> CertPaths:
    """The cloud's RSA bundle certificate and key (nodes decrypt bundles with the key)."""
    return ensure_bundle_keypair(ca_dir, cloud_bundle_paths(ca_dir), "cloud bundle key")
