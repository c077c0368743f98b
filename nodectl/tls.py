"""TLS contexts for the node agent's mutual TLS (both ends trust only the cloud CA).

The agent presents ``<data>/ca/services/nodectl.pem`` and requires a client
certificate signed by the cloud CA; the controller presents ``cloudctl.pem`` and
checks the agent's certificate (and host name) against the same CA. Files are
created by ``cloudctl init`` (``cloudctl.pki``); this module only reads them.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_context", "server_context"]


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
