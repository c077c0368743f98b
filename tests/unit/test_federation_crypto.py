"""Known-answer checks of the MFA and SAML primitives: RFC 6238 TOTP vectors and the
exclusive c14n example of the W3C recommendation (section 2.2)."""

from __future__ import annotations

import base64

import pytest

from cloudctl.services.iam import totp
from cloudctl.services.sts import xmldsig


@pytest.mark.parametrize(("when", "code"), [
    (59, "287082"), (1111111109, "081804"), (1111111111, "050471"),
    (1234567890, "005924"), (2000000000, "279037"), (20000000000, "353130")])
def test_totp_rfc6238_sha1_vectors(when: int, code: str) -> None:
    seed = base64.b32encode(b"12345678901234567890").decode()
    assert totp.hotp(seed, totp.current_step(when)) == code
    step = totp.current_step(when)
    assert totp.match_step(seed, code, step + 1, 1, 1) == step
    assert totp.match_step(seed, code, step + 2, 1, 1) is None


def test_exclusive_c14n_w3c_example() -> None:
    doc = (b'<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org">'
           b'<n1:elem2 xmlns:n1="http://example.net" xml:lang="en">'
           b'<n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>')
    elem2 = xmldsig.parse(doc).elements()[0]
    assert xmldsig.exc_c14n(elem2) == (
        b'<n1:elem2 xmlns:n1="http://example.net" xml:lang="en">'
        b'<n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>')


def test_c14n_attributes_text_and_default_namespace() -> None:
    doc = (b'<a xmlns="urn:x" b="2" a="1" xmlns:unused="urn:u" xmlns:z="urn:z" z:c="3" '
           b'd="&quot;\t&lt;"><b>t&amp;&lt;&gt;\r</b><c xmlns=""/></a>')
    assert xmldsig.exc_c14n(xmldsig.parse(doc)) == (
        b'<a xmlns="urn:x" xmlns:z="urn:z" a="1" b="2" d="&quot; &lt;" z:c="3">'
        b'<b>t&amp;&lt;&gt;\n</b><c xmlns=""></c></a>')


def test_doctype_refused() -> None:
    with pytest.raises(xmldsig.XmlError):
        xmldsig.parse(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>')
