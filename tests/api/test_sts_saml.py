"""SAML federation through boto3: a SAML provider from IdP metadata, and a Response
signed here (enveloped RSA-SHA256, exclusive c14n) exchanged with the unsigned
AssumeRoleWithSAML for role credentials; tampered, re-signed, expired, wrongly
addressed and role-less assertions refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cloudctl.services.sts.xmldsig import MARKER, sign_enveloped
from tests.support import LiveCloud

# SQLite only (SAML signatures and assertions: no database-specific path; IAM's storage runs on both in test_iam_core)
ENTITY = "https://idp.example.test/saml"
AWS_SAML = "https://signin.aws.amazon.com/saml"


def _keypair() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.DER)


def _metadata(cert_der: bytes) -> str:
    cert = base64.b64encode(cert_der).decode()
    return (f'<?xml version="1.0"?>\n<md:EntityDescriptor '
            f'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration='
            '"urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing">'
            '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
            f'<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
            '</md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:'
            'bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>'
            '</md:IDPSSODescriptor></md:EntityDescriptor>')


def _response(roles: str, *, session: str = "carol", audience: str = AWS_SAML,
              recipient: str = AWS_SAML, minutes: int = 5, subject: str = "carol@example.test"
              ) -> tuple[str, str]:
    """An unsigned Response (with the signature marker in its Assertion) and its ID."""
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assertion_id = "_" + uuid.uuid4().hex
    xml = (f'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{stamp}" '
           f'Destination="{recipient}"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:'
           f'assertion">{ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:'
           'names:tc:SAML:2.0:status:Success"/></samlp:Status>\n'
           '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
           'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           f'ID="{assertion_id}" IssueInstant="{stamp}" Version="2.0">\n'
           f'  <saml:Issuer>{ENTITY}</saml:Issuer>{MARKER}\n'
           '  <saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:'
           f'persistent">{subject}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:'
           f'names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{until}" '
           f'Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject>\n'
           f'  <saml:Conditions NotBefore="{stamp}" NotOnOrAfter="{until}">'
           f'<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience>'
           '</saml:AudienceRestriction></saml:Conditions>\n'
           '  <saml:AttributeStatement>'
           '<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">'
           f'<saml:AttributeValue xsi:type="xs:string">{roles}</saml:AttributeValue>'
           '</saml:Attribute>'
           '<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">'
           f'<saml:AttributeValue xsi:type="xs:string">{session}</saml:AttributeValue>'
           '</saml:Attribute></saml:AttributeStatement>\n'
           '</saml:Assertion></samlp:Response>')
    return xml, assertion_id


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def test_saml_assertion_for_role_credentials(cloud: LiveCloud) -> None:
    key, cert = _keypair()
    iam = cloud.client("iam")
    suffix = uuid.uuid4().hex[:8]
    provider = iam.create_saml_provider(
        Name=f"corp-{suffix}", SAMLMetadataDocument=_metadata(cert),
        Tags=[{"Key": "k", "Value": "v"}])["SAMLProviderArn"]
    assert provider == f"arn:aws:iam::{cloud.account_id}:saml-provider/corp-{suffix}"
    assert provider in [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]
    assert iam.get_saml_provider(SAMLProviderArn=provider)["SAMLMetadataDocument"] \
        == _metadata(cert)
    iam.tag_saml_provider(SAMLProviderArn=provider, Tags=[{"Key": "k2", "Value": "v2"}])
    iam.untag_saml_provider(SAMLProviderArn=provider, TagKeys=["k"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=provider)["Tags"] == [
        {"Key": "k2", "Value": "v2"}]
    with pytest.raises(ClientError) as err:
        iam.create_saml_provider(Name="broken-" + suffix, SAMLMetadataDocument="<x/>" * 300)
    assert _err(err) == ("InvalidInput", 400)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithSAML",
        "Principal": {"Federated": provider},
        "Condition": {"StringEquals": {"SAML:aud": AWS_SAML}}}]}
    role_name = f"saml-{suffix}"
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName=role_name,
                           PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    role_arn = f"arn:aws:iam::{cloud.account_id}:role/{role_name}"
    sts = cloud.client("sts", config=Config(signature_version=UNSIGNED,
                                            retries={"max_attempts": 1}))

    def signed(xml: str, ident: str, with_key: rsa.RSAPrivateKey = key) -> str:
        return base64.b64encode(sign_enveloped(xml, ident, with_key, cert).encode()).decode()

    xml, ident = _response(f"{role_arn},{provider}")
    out = sts.assume_role_with_saml(RoleArn=role_arn, PrincipalArn=provider,
                                    SAMLAssertion=signed(xml, ident), DurationSeconds=900)
    assert out["Subject"] == "carol@example.test" and out["SubjectType"] == "persistent"
    assert out["Issuer"] == ENTITY and out["Audience"] == AWS_SAML
    assert out["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{cloud.account_id}:assumed-role/{role_name}/carol"
    creds = out["Credentials"]
    role_iam = cloud.client("iam", access_key=creds["AccessKeyId"],
                            secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    role_iam.list_roles()
    with pytest.raises(ClientError) as err:
        role_iam.create_user(UserName="saml-sneaky")
    assert _err(err) == ("AccessDenied", 403)
    # the provider ARN before the role ARN is accepted too
    xml, ident = _response(f"{provider},{role_arn}")
    sts.assume_role_with_saml(RoleArn=role_arn, PrincipalArn=provider,
                              SAMLAssertion=signed(xml, ident))

    def refused(assertion: str) -> tuple[str, int]:
        with pytest.raises(ClientError) as err:
            sts.assume_role_with_saml(RoleArn=role_arn, PrincipalArn=provider,
                                      SAMLAssertion=assertion)
        return _err(err)

    good_xml = sign_enveloped(*_response(f"{role_arn},{provider}"), key, cert)
    # tampered after signing: another subject, another session name
    for before, after in (("carol@example.test", "mallory@example.test"),
                          (">carol<", ">mallory<")):
        tampered = good_xml.replace(before, after)
        assert tampered != good_xml
        assert refused(base64.b64encode(tampered.encode()).decode()) == \
            ("InvalidIdentityToken", 400)
    # signed by another key; not signed at all
    other, _ = _keypair()
    xml, ident = _response(f"{role_arn},{provider}")
    assert refused(signed(xml, ident, other)) == ("InvalidIdentityToken", 400)
    assert refused(base64.b64encode(xml.replace(MARKER, "").encode()).decode()) == \
        ("InvalidIdentityToken", 400)
    # wrapping: a second, unsigned assertion beside the signed one
    wrapped = good_xml.replace("</samlp:Response>", good_xml[good_xml.index("<saml:Assertion"):
                               good_xml.index("</saml:Assertion>") + 17] + "</samlp:Response>")
    assert refused(base64.b64encode(wrapped.encode()).decode()) == ("InvalidIdentityToken", 400)
    # expired, another audience, another recipient, a role not granted
    assert refused(signed(*_response(f"{role_arn},{provider}", minutes=-10))) == \
        ("ExpiredTokenException", 400)
    assert refused(signed(*_response(f"{role_arn},{provider}",
                                     audience="https://elsewhere.test/saml"))) == \
        ("InvalidIdentityToken", 400)
    assert refused(signed(*_response(f"{role_arn},{provider}",
                                     recipient="https://elsewhere.test/saml"))) == \
        ("InvalidIdentityToken", 400)
    other_role = f"arn:aws:iam::{cloud.account_id}:role/other"
    assert refused(signed(*_response(f"{other_role},{provider}"))) == ("IDPRejectedClaim", 403)
    # a DOCTYPE (entity expansion) is refused before anything else
    bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'
    assert refused(base64.b64encode(bomb.encode()).decode()) == ("InvalidIdentityToken", 400)
    # metadata update and delete
    iam.update_saml_provider(SAMLProviderArn=provider, SAMLMetadataDocument=_metadata(cert))
    iam.delete_saml_provider(SAMLProviderArn=provider)
    xml, ident = _response(f"{role_arn},{provider}")
    assert refused(signed(xml, ident)) == ("InvalidIdentityToken", 400)
