"""XML signatures of SAML messages: a prefix-keeping parser, exclusive c14n, verify, sign.

Exclusive XML Canonicalization 1.0 without comments (``xml-exc-c14n#``) is written
here over the standard library's expat, because the verification must see the
document exactly as signed: qualified names with their prefixes and the namespace
declarations in scope. ElementTree drops both. Supported, and documented as the
limits: one document element with elements, attributes, text and processing
instructions (comments are dropped, as c14n without comments does); no DTD (a
DOCTYPE, hence any entity declaration, is refused before parsing goes further);
``InclusiveNamespaces PrefixList``; the enveloped-signature transform. A signature
is accepted only as SAML uses it: one ``Reference`` to the ``ID`` of the element
carrying the signature as a direct child, transforms enveloped-signature then
exc-c14n, digest SHA-256, RSA-SHA256 (PKCS#1 v1.5) over the canonical SignedInfo,
and the ``ID`` unique in the document (no signature-wrapping). ``sign_enveloped``
produces such a signature (identity providers' tooling and tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_DOCUMENT = 256 * 1024
MAX_DEPTH = 64


class XmlError(Exception):
    """The document is not XML this module accepts."""


class SignatureError(Exception):
    """The signature is missing, malformed, of an unsupported kind or does not verify."""


@dataclass(eq=False)
class Element:
    qname: str
    attrs: list[tuple[str, str]]
    nsmap: dict[str, str]
    parent: Element | None = None
    children: list[Element | str | tuple[str, str]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.qname.split(":", 1)[0] if ":" in self.qname else ""

    @property
    def local(self) -> str:
        return self.qname.rsplit(":", 1)[-1]

    @property
    def uri(self) -> str:
        return self.nsmap.get(self.prefix, "")

    def get(self, name: str) -> str | None:
        """An unprefixed attribute's value."""
        for key, value in self.attrs:
            if key == name:
                return value
        return None

    def elements(self, uri: str | None = None, local: str | None = None) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)
                and (uri is None or c.uri == uri) and (local is None or c.local == local)]

    def first(self, uri: str, local: str) -> Element | None:
        found = self.elements(uri, local)
        return found[0] if found else None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() if isinstance(c, Element) else ""
                       for c in self.children)

    def iter(self) -> list[Element]:
        out = [self]
        for child in self.elements():
            out.extend(child.iter())
        return out


def parse(data: bytes) -> Element:
    """The document element of ``data``; ``XmlError`` for anything not accepted."""
    if len(data) > MAX_DOCUMENT:
        raise XmlError("document too large")
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    parser.buffer_text = True
    stack: list[Element] = []
    root: list[Element] = []

    def start(name: str, attributes: list[str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise XmlError("document nested too deeply")
        pairs = list(zip(attributes[0::2], attributes[1::2], strict=True))
        parent = stack[-1] if stack else None
        nsmap = dict(parent.nsmap) if parent else {}
        for key, value in pairs:
            if key == "xmlns":
                nsmap[""] = value
            elif key.startswith("xmlns:"):
                nsmap[key[6:]] = value
        nsmap["xml"] = XML_NS
        element = Element(name, pairs, nsmap, parent)
        if parent is not None:
            parent.children.append(element)
        elif root:
            raise XmlError("more than one document element")
        else:
            root.append(element)
        stack.append(element)

    def end(name: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].children.append(data)

    def pi(target: str, data: str) -> None:
        if stack:
            stack[-1].children.append((target, data))

    def doctype(*_: Any) -> None:
        raise XmlError("a DOCTYPE is not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.ProcessingInstructionHandler = pi
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(f"not well-formed XML ({expat.errors.messages.get(exc.code, exc.code)})"
                       ) from None
    if not root:
        raise XmlError("no document element")
    return root[0]


def _text(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#xD;"))


def _attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;"))


def exc_c14n(element: Element, inclusive: tuple[str, ...] = (),
             exclude: Element | None = None) -> bytes:
    """Exclusive c14n (without comments) of ``element``'s subtree, ``exclude`` left out."""
    out: list[str] = []
    _render(element, {"": ""}, set(inclusive), exclude, out)
    return "".join(out).encode()


def _render(element: Element, rendered: dict[str, str], inclusive: set[str],
            exclude: Element | None, out: list[str]) -> None:
    plain = [(k, v) for k, v in element.attrs if k != "xmlns" and not k.startswith("xmlns:")]
    used = {element.prefix}
    used.update(k.split(":", 1)[0] for k, _ in plain if ":" in k)
    used.discard("xml")
    for prefix in inclusive:
        name = "" if prefix == "#default" else prefix
        if name in element.nsmap:
            used.add(name)
    declared: list[tuple[str, str]] = []
    scope = dict(rendered)
    for prefix in sorted(used):
        uri = element.nsmap.get(prefix, "")
        if prefix and not uri:
            raise XmlError(f"undeclared namespace prefix {prefix}")
        if rendered.get(prefix, None if prefix else "") != uri:
            declared.append((prefix, uri))
            scope[prefix] = uri

    def key(item: tuple[str, str]) -> tuple[str, str]:
        name = item[0]
        if ":" not in name:
            return ("", name)
        prefix, local = name.split(":", 1)
        return (element.nsmap.get(prefix, ""), local)

    out.append("<" + element.qname)
    for prefix, uri in declared:
        out.append(f' xmlns{":" + prefix if prefix else ""}="{_attr(uri)}"')
    for name, value in sorted(plain, key=key):
        out.append(f' {name}="{_attr(value)}"')
    out.append(">")
    for child in element.children:
        if isinstance(child, str):
            out.append(_text(child))
        elif isinstance(child, tuple):
            out.append(f"<?{child[0]}{' ' + child[1] if child[1] else ''}?>")
        elif child is not exclude:
            _render(child, scope, inclusive, exclude, out)
    out.append(f"</{element.qname}>")


def _prefixes(method: Element) -> tuple[str, ...]:
    found = method.first(EXC_C14N, "InclusiveNamespaces")
    return tuple((found.get("PrefixList") or "").split()) if found is not None else ()


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError:
        raise SignatureError("malformed base64 in the signature") from None


def signature_of(element: Element) -> Element | None:
    found = element.elements(DSIG, "Signature")
    if len(found) > 1:
        raise SignatureError("more than one signature")
    return found[0] if found else None


def verify_enveloped(element: Element, public_key: Any, id_attribute: str = "ID") -> None:
    """Check the enveloped signature of ``element`` (its direct child) with ``public_key``."""
    signature = signature_of(element)
    if signature is None:
        raise SignatureError("the element is not signed")
    ident = element.get(id_attribute)
    if not ident:
        raise SignatureError("the signed element has no ID")
    document = element
    while document.parent is not None:
        document = document.parent
    if sum(1 for e in document.iter() if e.get(id_attribute) == ident) != 1:
        raise SignatureError("the signed ID is not unique")
    info = signature.first(DSIG, "SignedInfo")
    value = signature.first(DSIG, "SignatureValue")
    if info is None or value is None:
        raise SignatureError("malformed signature")
    method = info.first(DSIG, "CanonicalizationMethod")
    algorithm = info.first(DSIG, "SignatureMethod")
    references = info.elements(DSIG, "Reference")
    if method is None or method.get("Algorithm") != EXC_C14N:
        raise SignatureError("unsupported canonicalization")
    if algorithm is None or algorithm.get("Algorithm") != RSA_SHA256:
        raise SignatureError("unsupported signature algorithm")
    if len(references) != 1 or references[0].get("URI") != "#" + ident:
        raise SignatureError("the signature does not reference the signed element")
    reference = references[0]
    transforms_node = reference.first(DSIG, "Transforms")
    transforms = transforms_node.elements(DSIG, "Transform") if transforms_node else []
    kinds = [t.get("Algorithm") for t in transforms]
    if kinds != [ENVELOPED, EXC_C14N]:
        raise SignatureError("unsupported transforms")
    digest_method = reference.first(DSIG, "DigestMethod")
    digest_value = reference.first(DSIG, "DigestValue")
    if digest_method is None or digest_method.get("Algorithm") != SHA256 \
            or digest_value is None:
        raise SignatureError("unsupported digest")
    digest = hashlib.sha256(exc_c14n(element, _prefixes(transforms[1]), signature)).digest()
    if not hmac.compare_digest(digest, _b64(digest_value.text())):
        raise SignatureError("the digest does not match: the element was altered")
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureError("the signing certificate does not hold an RSA key")
    try:
        public_key.verify(_b64(value.text()), exc_c14n(info, _prefixes(method)),
                          padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("the signature does not verify") from None


MARKER = "<!--signature-->"


def sign_enveloped(document: str, ref_id: str, private_key: rsa.RSAPrivateKey,
                   certificate_der: bytes) -> str:
    """``document`` with ``MARKER`` replaced by an enveloped RSA-SHA256 signature over the
    element whose ``ID`` is ``ref_id`` (the marker must be a direct child of it)."""
    if document.count(MARKER) != 1:
        raise ValueError("the document must hold the signature marker once")
    root = parse(document.encode())
    target = [e for e in root.iter() if e.get("ID") == ref_id]
    if len(target) != 1:
        raise ValueError("no single element with that ID")
    digest = base64.b64encode(hashlib.sha256(exc_c14n(target[0])).digest()).decode()
    info = (f'<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
            f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#{ref_id}">'
            f'<ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/>'
            f'<ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>{digest}</ds:DigestValue>'
            f'</ds:Reference></ds:SignedInfo>')
    cert = base64.b64encode(certificate_der).decode()
    template = (f'<ds:Signature xmlns:ds="{DSIG}">{info}<ds:SignatureValue>{{value}}'
                f'</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}'
                f'</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>')
    placed = parse(document.replace(MARKER, template.format(value="")).encode())
    signed_info = [e for e in placed.iter() if e.uri == DSIG and e.local == "SignedInfo"][0]
    value = private_key.sign(exc_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    return document.replace(MARKER, template.format(value=base64.b64encode(value).decode()))
