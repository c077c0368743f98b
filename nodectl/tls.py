"""TLS contexts for the node agent's mutual TLS (both ends trust only the cloud CA).

The agent presents ``<data>/ca/services/nodectl.pem`` and requires a client
certificate signed by the cloud CA; the controller presents ``cloudctl.pem`` and
checks the agent's certificate (and host name) against the same CA. Files are
created by ``cloudctl init`` (``cloudctl.pki``); this module only reads them.

The CA signs more than the controller's certificate (the other services', users'
bundle certificates), so a CA signature alone is not authorisation:
``client_identity`` names the verified peer only when its certificate is for TLS
client use (extended key usage ``clientAuth``, which only service certificates
carry) and the agent lets in only the identities in ``CONTROLLER_IDENTITIES``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CONTROLLER_IDENTITIES", "client_context", "client_identity", "server_context"]

CONTROLLER_IDENTITIES = frozenset({"cloudctl"})


def client_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The common name of a verified TLS client certificate made for client use, or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else None


def server_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """Serve with ``cert``/``key``; only clients with a certificate from ``ca`` get in."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_context(ca: Path, cert: Path | None, key: Path | None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """Connect presenting ``cert``/``key``; trust only servers with a certificate from ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    return ctx
