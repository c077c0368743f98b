"""SAML 2.0 IdP metadata: the entity id, signing certificates and ``validUntil``.

Parsed with ElementTree after refusing any DOCTYPE (so no entity can be declared or
expanded). The signing certificates are the X.509 certificates of the
``IDPSSODescriptor``'s ``KeyDescriptor`` elements whose ``use`` is ``signing`` or
absent; at least one must hold an RSA key.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


class MetadataError(Exception):
    """The document is not usable IdP metadata."""


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    certificates: tuple[x509.Certificate, ...]
    valid_until: datetime | None


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_metadata(document: str) -> IdpMetadata:
    if "<!DOCTYPE" in document.upper().replace(" ", "") or "<!ENTITY" in document.upper():
        raise MetadataError("a DOCTYPE is not allowed")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        raise MetadataError("not well-formed XML") from None
    if root.tag != MD + "EntityDescriptor" or not root.get("entityID"):
        raise MetadataError("the document element must be an EntityDescriptor with entityID")
    idp = root.find(MD + "IDPSSODescriptor")
    if idp is None:
        raise MetadataError("no IDPSSODescriptor")
    certificates = []
    for descriptor in idp.findall(MD + "KeyDescriptor"):
        if descriptor.get("use", "signing") != "signing":
            continue
        for node in descriptor.iter(DS + "X509Certificate"):
            try:
                der = base64.b64decode("".join((node.text or "").split()), validate=True)
                cert = x509.load_der_x509_certificate(der)
            except (ValueError, binascii.Error):
                raise MetadataError("an X509Certificate is not a valid certificate") from None
            if isinstance(cert.public_key(), rsa.RSAPublicKey):
                certificates.append(cert)
    if not certificates:
        raise MetadataError("no RSA signing certificate in the IDPSSODescriptor")
    until = root.get("validUntil")
    try:
        valid_until = parse_time(until) if until else None
    except ValueError:
        raise MetadataError("validUntil is not a date-time") from None
    return IdpMetadata(str(root.get("entityID")), tuple(certificates), valid_until)
