"""STS federation: AssumeRoleWithWebIdentity (OIDC) and AssumeRoleWithSAML.

Both are unsigned (``authz.UNSIGNED_OPERATIONS``): the identity provider's token is
the proof. The provider must be registered in the role's account (IAM
``oidc-provider/...`` / ``saml-provider/...``); the token is verified (JWT
signature against the issuer's JWKS, or the SAML Response's XML signature against
the metadata's certificate), its claims checked (issuer, audience, times,
subject, recipient), then the role's trust policy decides, with the provider as
``Federated`` principal and the provider's keys in the context
(``<host/path>:aud``/``:sub``; ``SAML:aud``/``:sub``/``:iss``...). Errors are
AWS's: InvalidIdentityToken, ExpiredTokenException, IDPCommunicationError,
IDPRejectedClaim, AccessDenied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from cloudctl.errors import AccessDenied, AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.iam.federation_models import OidcProvider, SamlProvider
from cloudctl.services.iam.idp import oidc_name
from cloudctl.services.iam.models import Role
from cloudctl.services.iam.names import check_session_name
from cloudctl.services.iam.policy import AuthzRequest, evaluate
from cloudctl.services.iam.saml_metadata import MetadataError, parse_metadata, parse_time
from cloudctl.services.sts import jwt, xmldsig
from cloudctl.services.sts.provider import StsBase, issue

LEEWAY = 60
SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"
SAML_AUDIENCES = registry.define(PropertyDef(
    "iam.saml.audiences", PropertyType.STRING, "",
    "Extra SAML audiences/recipients accepted by AssumeRoleWithSAML beside "
    f"{SAML_AUDIENCE} (comma-separated, e.g. this cloud's console sign-in URL).",
))
ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_NAME_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


def invalid_token(message: str) -> AwsError:
    return AwsError(message, code="InvalidIdentityToken", status=400)


def expired(message: str = "Token expired") -> AwsError:
    return AwsError(message, code="ExpiredTokenException", status=400)


def rejected(message: str) -> AwsError:
    return AwsError(message, code="IDPRejectedClaim", status=403)


def _role_parts(role_arn: Any) -> tuple[str, str]:
    parts = str(role_arn or "").split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/") or not parts[4].isdigit():
        raise AwsError(f"{role_arn} is invalid", code="ValidationError", status=400)
    return parts[4], parts[5].rsplit("/", 1)[-1]


class FederationProvider(StsBase):

    async def _role(self, role_arn: str) -> Role | None:
        account_id, name = _role_parts(role_arn)
        async with self.cloud.sessions() as session:
            return (await session.execute(select(Role).where(
                Role.account_id == account_id, Role.name_lower == name.lower()))
            ).scalar_one_or_none()

    async def _assume(self, role: Role | None, role_arn: str, action: str, provider_arn: str,
                      context: dict[str, Any], session_name: str, params: dict[str, Any],
                      identity: dict[str, Any], default_duration: int = 3600
                      ) -> dict[str, Any]:
        denied = AccessDenied(f"Not authorized to perform {action}")
        if role is None:
            raise denied
        request = AuthzRequest(action=action, resources=[role_arn], principal_arn="",
                               principal_type="federated",
                               principal_ids=("federated:" + provider_arn,), context=context)
        if not evaluate(request, None, role.trust_policy, resource_account=None).allowed:
            raise denied
        duration = self._duration(params, min(default_duration, role.max_session_duration),
                                  role.max_session_duration)
        account_id = role.account_id
        assumed_arn = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{session_name}"
        attributes = {"role_id": role.role_id,
                      "role_arn": f"arn:aws:iam::{account_id}:role{role.path}{role.name}",
                      "role_session_name": session_name, "federated_provider": provider_arn,
                      **identity}
        creds = await issue(self.cloud, account_id, "assumed-role", assumed_arn,
                            f"{role.role_id}:{session_name}", role.role_id, duration,
                            self._session_policy(params), attributes, None)
        return {"Credentials": creds, "PackedPolicySize": 0, "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}", "Arn": assumed_arn}}

    @operation("AssumeRoleWithWebIdentity")
    async def assume_role_with_web_identity(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> Result:
        role_arn = params["RoleArn"]
        account_id, _ = _role_parts(role_arn)
        session_name = check_session_name(params.get("RoleSessionName"))
        token = params.get("WebIdentityToken")
        if not isinstance(token, str) or not 4 <= len(token) <= 20000:
            raise invalid_token("The web identity token is malformed.")
        try:
            header, claims, signed, signature = jwt.split(token)
        except jwt.TokenError:
            raise invalid_token("The web identity token is malformed.") from None
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise invalid_token("The web identity token has no issuer.")
        name = oidc_name(issuer)
        provider_arn = f"arn:aws:iam::{account_id}:oidc-provider/{name}"
        async with self.cloud.sessions() as session:
            provider = await session.get(OidcProvider, provider_arn)
        if provider is None or urlsplit(provider.url).scheme != urlsplit(issuer).scheme \
                or provider.url != issuer.rstrip("/"):
            raise invalid_token(f"No OpenIDConnect provider found in your account for {issuer}")
        try:
            keys = await jwt.issuer_keys(provider.url)
            good = jwt.verify_signature(header, signed, signature, keys)
            if not good and header.get("kid") is not None \
                    and not any(k.get("kid") == header["kid"] for k in keys
                                if isinstance(k, dict)):
                good = jwt.verify_signature(header, signed, signature,
                                            await jwt.issuer_keys(provider.url, refresh=True))
        except jwt.FetchError:
            raise AwsError("Couldn't retrieve verification key from your identity provider, "
                           "please reference AssumeRoleWithWebIdentity documentation for "
                           "requirements", code="IDPCommunicationError", status=400) from None
        except jwt.TokenError as exc:
            raise invalid_token(f"The web identity token is not valid: {exc}") from None
        if not good:
            raise invalid_token("The web identity token's signature could not be verified.")
        now = time.time()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise invalid_token("The web identity token has no expiration.")
        if now >= exp + LEEWAY:
            raise expired()
        for value, what in ((nbf, "not valid yet"), (iat, "issued in the future")):
            if value is not None and (not isinstance(value, int | float)
                                      or value > now + LEEWAY):
                raise invalid_token(f"The web identity token is {what}.")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        clients = set(json.loads(provider.client_ids_json))
        matched = [a for a in audiences or [] if isinstance(a, str) and a in clients]
        if not matched:
            raise invalid_token("Incorrect token audience")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise invalid_token("The web identity token has no subject.")
        context = {f"{name}:aud": matched[0], f"{name}:sub": subject,
                   f"{name}:oaud": audiences, "aws:FederatedProvider": provider_arn,
                   "sts:RoleSessionName": session_name}
        out = await self._assume(await self._role(role_arn), role_arn,
                                 "sts:AssumeRoleWithWebIdentity", provider_arn, context,
                                 session_name, params,
                                 {"web_identity_subject": subject, "web_identity_aud": matched[0]})
        out.update({"SubjectFromWebIdentityToken": subject, "Audience": matched[0],
                    "Provider": name})
        return out

    def _audiences(self) -> set[str]:
        extra = str(self.cloud.properties.get(SAML_AUDIENCES) or "")
        return {SAML_AUDIENCE, *(a.strip() for a in extra.split(",") if a.strip())}

    @operation("AssumeRoleWithSAML")
    async def assume_role_with_saml(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        role_arn, provider_arn = params["RoleArn"], str(params.get("PrincipalArn") or "")
        account_id, _ = _role_parts(role_arn)
        async with self.cloud.sessions() as session:
            provider = await session.get(SamlProvider, provider_arn)
        if provider is None or provider.account_id != account_id:
            raise invalid_token("SAML provider not found in the role's account.")
        try:
            metadata = parse_metadata(provider.metadata_document)
        except MetadataError:
            raise invalid_token("The SAML provider's metadata is not usable.") from None
        now = datetime.now(UTC)
        if provider.valid_until is not None and provider.valid_until <= now:
            raise invalid_token("The SAML provider's metadata has expired.")
        try:
            raw = base64.b64decode("".join(str(params.get("SAMLAssertion") or "").split()),
                                   validate=True)
            root = xmldsig.parse(raw)
        except (ValueError, binascii.Error, xmldsig.XmlError):
            raise invalid_token("Invalid SAML Response: not base64-encoded XML without a "
                                "DOCTYPE.") from None
        assertion = self._verified_assertion(root, metadata)
        issuer = assertion.first(SAML, "Issuer")
        if issuer is None or issuer.text().strip() != metadata.entity_id:
            raise invalid_token("The SAML assertion's issuer is not the provider's entity.")
        leeway = timedelta(seconds=LEEWAY)
        conditions = assertion.first(SAML, "Conditions")
        if conditions is None:
            raise invalid_token("The SAML assertion has no Conditions.")
        try:
            before = conditions.get("NotBefore")
            after = conditions.get("NotOnOrAfter")
            if before and parse_time(before) > now + leeway:
                raise invalid_token("The SAML assertion is not valid yet.")
            if not after or parse_time(after) + leeway <= now:
                raise expired("The SAML assertion has expired.")
        except ValueError:
            raise invalid_token("The SAML assertion's times are malformed.") from None
        accepted = self._audiences()
        audiences = {a.text().strip() for r in conditions.elements(SAML, "AudienceRestriction")
                     for a in r.elements(SAML, "Audience")}
        if not audiences & accepted:
            raise invalid_token("The SAML assertion's audience is not this cloud.")
        subject_node = assertion.first(SAML, "Subject")
        name_id = subject_node.first(SAML, "NameID") if subject_node else None
        if subject_node is None or name_id is None:
            raise invalid_token("The SAML assertion has no Subject.")
        recipient = self._confirmation(subject_node, accepted, now, leeway)
        values = self._attributes(assertion)
        pairs = []
        for value in values.get(ROLE_ATTRIBUTE, []):
            items = [v.strip() for v in value.split(",")]
            if len(items) == 2:
                pairs.append(set(items))
        if {role_arn, provider_arn} not in pairs:
            raise rejected("The SAML assertion does not grant this role through this "
                           "provider.")
        names = values.get(SESSION_NAME_ATTRIBUTE, [])
        if len(names) != 1:
            raise rejected("The SAML assertion must hold one RoleSessionName.")
        session_name = check_session_name(names[0])
        subject = name_id.text().strip()
        fmt = name_id.get("Format") or "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
        sub_type = fmt.rsplit(":", 1)[-1] if fmt.startswith(
            "urn:oasis:names:tc:SAML:2.0:nameid-format:") else fmt
        qualifier = base64.b64encode(hashlib.sha1(
            (metadata.entity_id + account_id + "/" + provider.name).encode(),
            usedforsecurity=False).digest()).decode()
        context = {"SAML:aud": recipient, "SAML:iss": metadata.entity_id, "SAML:sub": subject,
                   "SAML:sub_type": sub_type, "SAML:namequalifier": qualifier,
                   "aws:FederatedProvider": provider_arn}
        out = await self._assume(await self._role(role_arn), role_arn,
                                 "sts:AssumeRoleWithSAML", provider_arn, context, session_name,
                                 params, {"saml_subject": subject})
        out.update({"Subject": subject, "SubjectType": sub_type, "Issuer": metadata.entity_id,
                    "Audience": recipient, "NameQualifier": qualifier})
        return out

    @staticmethod
    def _verified_assertion(root: xmldsig.Element,
                            metadata: Any) -> xmldsig.Element:
        if root.uri != SAMLP or root.local != "Response":
            raise invalid_token("Invalid SAML Response: not a samlp:Response.")
        status = root.first(SAMLP, "Status")
        code = status.first(SAMLP, "StatusCode") if status is not None else None
        if code is None or code.get("Value") != SUCCESS:
            raise rejected("The SAML Response does not report success.")
        assertions = root.elements(SAML, "Assertion")
        if len(assertions) != 1 or root.elements(SAML, "EncryptedAssertion"):
            raise invalid_token("The SAML Response must hold exactly one plain Assertion.")
        assertion = assertions[0]
        signed = [node for node in (root, assertion) if xmldsig.signature_of(node) is not None]
        if not signed:
            raise invalid_token("The SAML Response is not signed.")
        for node in signed:
            errors = []
            for cert in metadata.certificates:
                try:
                    xmldsig.verify_enveloped(node, cert.public_key())
                    break
                except xmldsig.SignatureError as exc:
                    errors.append(str(exc))
            else:
                raise invalid_token("Invalid SAML Response: the signature does not verify "
                                    f"({errors[0] if errors else 'no key'}).")
        return assertion

    @staticmethod
    def _confirmation(subject: xmldsig.Element, accepted: set[str], now: datetime,
                      leeway: timedelta) -> str:
        for confirmation in subject.elements(SAML, "SubjectConfirmation"):
            if confirmation.get("Method") != "urn:oasis:names:tc:SAML:2.0:cm:bearer":
                continue
            data = confirmation.first(SAML, "SubjectConfirmationData")
            if data is None:
                continue
            recipient = data.get("Recipient") or ""
            until = data.get("NotOnOrAfter")
            try:
                if not until or parse_time(until) + leeway <= now:
                    raise expired("The SAML assertion's subject confirmation has expired.")
            except ValueError:
                raise invalid_token("The SAML assertion's times are malformed.") from None
            if recipient in accepted:
                return recipient
        raise invalid_token("The SAML assertion has no bearer confirmation for this cloud.")

    @staticmethod
    def _attributes(assertion: xmldsig.Element) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for statement in assertion.elements(SAML, "AttributeStatement"):
            for attribute in statement.elements(SAML, "Attribute"):
                name = attribute.get("Name") or ""
                out.setdefault(name, []).extend(
                    v.text().strip() for v in attribute.elements(SAML, "AttributeValue"))
        return out
