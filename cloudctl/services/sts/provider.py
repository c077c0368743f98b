"""STS: GetCallerIdentity, AssumeRole, GetSessionToken, GetFederationToken and
DecodeAuthorizationMessage.

Temporary credentials (``ASIA...`` key, secret, session token) are stored in
``sts_sessions`` with the secret and token sealed; the IAM credential store
serves them to authentication, which refuses them once expired, and ends them
when the long-term access key they derive from (``parent_key_id``, inherited along
a chain of sessions) is deleted or deactivated. Sessions expired for more than
``PURGE_AFTER`` are deleted in the transaction that issues a new one (an indexed
range delete); until then they answer ``ExpiredToken``. A session carries its
permissions: an assumed role's policies intersected with the session policy; a
federation token's user policies intersected likewise. Role and federated user
sessions have no ``aws:username`` (their ``aws:userid`` is ``ROLEID:session`` /
``ACCOUNT:name``); session names, source identities, external ids and session
tags are validated as STS does (``cloudctl.services.iam.names``). GetSessionToken and
AssumeRole called with ``SerialNumber``/``TokenCode`` check the code against the
caller's MFA device (``iam.mfa.verify_code``, consumed once) and mark the session
(``mfa_at``: ``aws:MultiFactorAuthPresent``/``Age``); a session issued to a session
inherits its caller's mark.
"""

from __future__ import annotations

import json
import secrets as pysecrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from cloudctl.errors import AccessDenied, AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.authz import MESSAGE_CONTEXT, PolicyAuthorizer
from cloudctl.services.iam import totp
from cloudctl.services.iam.mfa import verify_code
from cloudctl.services.iam.models import AccessKey, Account, Role, StsSession
from cloudctl.services.iam.names import (
    check_external_id,
    check_federated_name,
    check_session_name,
    check_session_tags,
)
from cloudctl.services.iam.policy import AuthzRequest, PolicyError, evaluate, validate_policy
from cloudctl.services.iam.usage import note_role_use

MIN_DURATION = 900
PURGE_AFTER = timedelta(days=1)
LIFETIME_CAP = registry.define(PropertyDef(
    "tokens.max_lifetime_seconds", PropertyType.INTEGER, "0",
    "Upper bound on the lifetime of every temporary credential issued (0: no bound "
    "beyond each API's own limits).", minimum=0, maximum=129600,
))


def _validation(message: str) -> AwsError:
    return AwsError(message, code="ValidationError", status=400)


def parent_key_of(credential: Any) -> str | None:
    """The long-term access key a session issued to ``credential`` derives from."""
    if credential.is_temporary:
        parent = credential.attributes.get("parent_key_id")
        return str(parent) if parent else None
    return str(credential.access_key_id)


async def issue(cloud: Any, account_id: str, principal_type: str, principal_arn: str,
                user_id: str, source_id: str, duration: int, session_policy: str | None,
                attributes: dict[str, Any], parent_key_id: str | None = None
                ) -> dict[str, Any]:
    """Store a new session and answer its Credentials (secret and token sealed at rest)."""
    cap = int(cloud.properties.get(LIFETIME_CAP))
    if cap:
        duration = min(duration, cap)
    secret = ids.secret_access_key()
    token = "Fw" + pysecrets.token_urlsafe(96)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=duration)
    row = StsSession(access_key_id=ids.access_key_id(temporary=True), account_id=account_id,
                     secret_sealed=cloud.secrets.seal(secret),
                     token_sealed=cloud.secrets.seal(token),
                     principal_type=principal_type, principal_arn=principal_arn,
                     user_id=user_id, source_id=source_id, session_policy=session_policy,
                     attributes_json=json.dumps(attributes), expires_at=expires,
                     parent_key_id=parent_key_id)
    async with cloud.sessions() as session, session.begin():
        await session.execute(delete(StsSession).where(
            StsSession.expires_at < datetime.now(UTC) - PURGE_AFTER))
        session.add(row)
    return {"AccessKeyId": row.access_key_id, "SecretAccessKey": secret,
            "SessionToken": token, "Expiration": expires}


class StsBase(Provider):
    """What every STS provider shares: durations, session policies, issuing."""

    service = "sts"

    def _duration(self, params: dict[str, Any], default: int, maximum: int) -> int:
        seconds = int(params.get("DurationSeconds") or default)
        minimum = MIN_DURATION
        if not minimum <= seconds <= maximum:
            raise _validation(f"The requested DurationSeconds exceeds the allowed range "
                              f"({minimum}..{maximum}).")
        return seconds

    def _session_policy(self, params: dict[str, Any]) -> str | None:
        text = params.get("Policy")
        arns = params.get("PolicyArns") or []
        if arns:
            from cloudctl.services.iam import awspolicies

            docs = []
            for item in arns:
                builtin = awspolicies.BY_ARN.get(item.get("arn", ""))
                if builtin is None:
                    raise _validation(f"Unsupported session policy ARN {item.get('arn')}.")
                docs.append(json.loads(builtin.document)["Statement"])
            if text is None:
                text = json.dumps({"Version": "2012-10-17",
                                   "Statement": [s for d in docs for s in d]})
        if text is None:
            return None
        if len(text) > 2048:
            raise AwsError("Session policy too large.", code="PackedPolicyTooLarge", status=400)
        try:
            validate_policy(text, "identity")
        except PolicyError as exc:
            raise AwsError(exc.message, code="MalformedPolicyDocument", status=400) from None
        return str(text) if text is not None else None

    async def _issue(self, account_id: str, principal_type: str, principal_arn: str,
                     user_id: str, source_id: str, duration: int, session_policy: str | None,
                     attributes: dict[str, Any], parent_key_id: str | None = None
                     ) -> dict[str, Any]:
        return await issue(self.cloud, account_id, principal_type, principal_arn, user_id,
                           source_id, duration, session_policy, attributes, parent_key_id)


class StsProvider(StsBase):

    @operation("GetCallerIdentity")
    async def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        credential = ctx.credential
        assert credential is not None
        return {"UserId": credential.user_id, "Account": credential.account_id,
                "Arn": credential.principal_arn}

    async def _mfa(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The session attributes of the call's MFA: a code given is checked (and consumed);
        without one a session inherits its caller's MFA time."""
        credential = ctx.credential
        assert credential is not None
        serial, code = params.get("SerialNumber"), params.get("TokenCode")
        if serial is None and code is None:
            inherited = credential.attributes.get("mfa_at")
            return {"mfa_at": inherited} if inherited else {}
        if serial is None or code is None:
            raise _validation("SerialNumber and TokenCode must be given together.")
        if not 9 <= len(str(serial)) <= 256:
            raise _validation("1 validation error detected: Value at 'serialNumber' failed to "
                              "satisfy constraint: Member must have length between 9 and 256")
        if not totp.well_formed(code):
            raise _validation("1 validation error detected: Value at 'tokenCode' failed to "
                              "satisfy constraint: Member must satisfy regular expression "
                              "pattern: [\\d]*")
        user_id = credential.user_id if credential.principal_type == "user" else ""
        if not user_id or not await verify_code(self.cloud, credential.account_id, user_id,
                                                serial, code):
            raise AccessDenied("MultiFactorAuthentication failed with invalid MFA one time "
                               "pass code. ")
        return {"mfa_at": int(datetime.now(UTC).timestamp())}

    @operation("AssumeRole")
    async def assume_role(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        credential = ctx.credential
        assert credential is not None
        role_arn = params["RoleArn"]
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("role/"):
            raise _validation(f"{role_arn} is invalid")
        account_id, role_name = parts[4], parts[5].rsplit("/", 1)[-1]
        session_name = check_session_name(params.get("RoleSessionName"))
        if params.get("SourceIdentity") is not None:
            check_session_name(params["SourceIdentity"], "sourceIdentity")
        if params.get("ExternalId") is not None:
            check_external_id(params["ExternalId"])
        tags = check_session_tags(params.get("Tags"))
        mfa = await self._mfa(ctx, params)
        async with self.cloud.sessions() as session:
            role = (await session.execute(select(Role).where(
                Role.account_id == account_id, Role.name_lower == role_name.lower()))
            ).scalar_one_or_none()
            account = await session.get(Account, account_id)
        denied = AccessDenied(f"User: {credential.principal_arn} is not authorized to perform: "
                              f"sts:AssumeRole on resource: {role_arn}")
        if role is None or account is None:
            raise denied
        authz = self.cloud.authorizer
        context = (authz.build_request(ctx, "sts:AssumeRole", [role_arn], {}, params).context
                   if isinstance(authz, PolicyAuthorizer) else {})
        context = dict(context)
        if params.get("ExternalId"):
            context["sts:ExternalId"] = params["ExternalId"]
        if params.get("SourceIdentity"):
            context["sts:SourceIdentity"] = params["SourceIdentity"]
        if params.get("RoleSessionName"):
            context["sts:RoleSessionName"] = params["RoleSessionName"]
        if params.get("TokenCode"):  # checked above: the trust policy sees this call's MFA
            context["aws:MultiFactorAuthPresent"] = True
            context["aws:MultiFactorAuthAge"] = "0"
        ids_extra: tuple[str, ...] = ()
        if credential.attributes.get("role_arn"):
            ids_extra = (credential.attributes["role_arn"],)
        request = AuthzRequest(action="sts:AssumeRole", resources=[role_arn],
                               principal_arn=credential.principal_arn,
                               principal_account=credential.account_id,
                               principal_type=credential.principal_type,
                               principal_ids=ids_extra, context=context)
        # The trust policy is the role's resource policy: same account, either grants
        # (the caller's identity allow was checked by the authorizer); other account: both.
        trust = evaluate(request, None, role.trust_policy, resource_account=None)
        if not trust.allowed:
            raise denied
        duration = self._duration(params, 3600, role.max_session_duration)
        assumed_arn = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{session_name}"
        full_role_arn = f"arn:aws:iam::{account_id}:role{role.path}{role.name}"
        # a role session has no aws:username: it names itself only in its ARN and userid
        attributes = {"role_id": role.role_id, "role_arn": full_role_arn,
                      "role_session_name": session_name, "session_tags": tags,
                      "source_identity": params.get("SourceIdentity"), **mfa}
        await note_role_use(self.cloud.sessions, role.role_id, ctx.region)
        creds = await self._issue(account_id, "assumed-role", assumed_arn,
                                  f"{role.role_id}:{session_name}", role.role_id, duration,
                                  self._session_policy(params), attributes,
                                  parent_key_of(credential))
        out: dict[str, Any] = {"Credentials": creds, "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}", "Arn": assumed_arn},
            "PackedPolicySize": 0}
        if params.get("SourceIdentity"):
            out["SourceIdentity"] = params["SourceIdentity"]
        return out

    @operation("GetSessionToken")
    async def get_session_token(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        credential = ctx.credential
        assert credential is not None
        if credential.is_temporary:
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        maximum = 3600 if credential.principal_type == "root" else 129600
        duration = self._duration(params, min(43200, maximum), maximum)
        attrs = credential.attributes
        attributes = {"iam_user_id": credential.user_id, "user_name": attrs.get("user_name"),
                      "account_admin": attrs.get("account_admin", False),
                      "cloud_admin": attrs.get("cloud_admin", False),
                      **await self._mfa(ctx, params)}
        creds = await self._issue(credential.account_id, credential.principal_type,
                                  credential.principal_arn, credential.user_id,
                                  credential.user_id, duration, None, attributes,
                                  parent_key_of(credential))
        return {"Credentials": creds}

    @operation("GetFederationToken")
    async def get_federation_token(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        credential = ctx.credential
        assert credential is not None
        if credential.is_temporary:
            raise AccessDenied("Cannot call GetFederationToken with session credentials")
        name = check_federated_name(params.get("Name"))
        tags = check_session_tags(params.get("Tags"))
        duration = self._duration(params, 43200, 129600)
        arn = f"arn:aws:sts::{credential.account_id}:federated-user/{name}"
        policy = self._session_policy(params) or '{"Version":"2012-10-17","Statement":' \
            '[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
        # a federated user has no aws:username either (its userid is ACCOUNT:name)
        attributes = {"iam_user_id": credential.user_id, "federated_name": name,
                      "session_tags": tags,
                      "account_admin": credential.attributes.get("account_admin", False)}
        creds = await self._issue(credential.account_id, "federated-user", arn,
                                  f"{credential.account_id}:{name}", credential.user_id,
                                  duration, policy, attributes, parent_key_of(credential))
        return {"Credentials": creds, "FederatedUser": {
            "FederatedUserId": f"{credential.account_id}:{name}", "Arn": arn},
            "PackedPolicySize": 0}

    @operation("GetAccessKeyInfo")
    async def get_access_key_info(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        """The account that owns an access key (long-term or temporary) of this cloud."""
        key_id = str(params.get("AccessKeyId") or "")
        if not 16 <= len(key_id) <= 128 or not key_id.isalnum():
            raise _validation("1 validation error detected: Value at 'accessKeyId' failed to "
                              "satisfy constraint: Member must satisfy regular expression "
                              "pattern: [\\w]*")
        async with self.cloud.sessions() as session:
            account = (await session.execute(select(AccessKey.account_id).where(
                AccessKey.access_key_id == key_id))).scalar_one_or_none()
            if account is None:
                account = (await session.execute(select(StsSession.account_id).where(
                    StsSession.access_key_id == key_id))).scalar_one_or_none()
        if account is None:
            raise AwsError(f"The access key ID {key_id} does not exist in this cloud.",
                           code="InvalidParameterValue", status=400)
        return {"Account": account}

    @operation("DecodeAuthorizationMessage")
    async def decode_authorization_message(self, ctx: RequestContext,
                                           params: dict[str, Any]) -> Result:
        try:
            text = self.cloud.secrets.open(params["EncodedMessage"], context=MESSAGE_CONTEXT)
        except Exception:
            raise AwsError("The message is not valid.", code="InvalidAuthorizationMessageException",
                           status=400) from None
        return {"DecodedMessage": text}
