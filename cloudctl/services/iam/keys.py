"""Credentials of IAM users: access keys, login profiles, signing and server certificates.

Access keys: at most ``authentication.access_keys_limit`` per user (or root),
Active/Inactive, last use; secrets are sealed at rest and returned only once.
Passwords are hashed with scrypt and checked against the account password
policy. Certificates are X.509 PEM, parsed with ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as pysecrets
from datetime import UTC
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services import ids
from cloudctl.services.iam.common import (
    ACCESS_KEYS_LIMIT,
    IamBase,
    already_exists,
    arn,
    check_path,
    limit_exceeded,
    no_such_entity,
    paginate,
    validation,
)
from cloudctl.services.iam.credentials import bump_epoch
from cloudctl.services.iam.models import (
    AccessKey,
    Account,
    AccountSettings,
    LoginProfile,
    ServerCertificate,
    SigningCertificate,
    User,
)
from cloudctl.services.iam.users import caller_user_name, get_user


def hash_password(password: str) -> str:
    salt = pysecrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=1 << 14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    mine = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=1 << 14, r=8, p=1,
                          dklen=32)
    return pysecrets.compare_digest(mine, base64.b64decode(digest))


async def _enforce_password_policy(session: AsyncSession, account_id: str, password: str) -> None:
    settings = await session.get(AccountSettings, account_id)
    policy = json.loads(settings.password_policy) if settings and settings.password_policy else {}
    problems = []
    if len(password) < int(policy.get("MinimumPasswordLength", 6)):
        problems.append("too short")
    if policy.get("RequireSymbols") and password.isalnum():
        problems.append("needs a symbol")
    if policy.get("RequireNumbers") and not any(c.isdigit() for c in password):
        problems.append("needs a number")
    if policy.get("RequireUppercaseCharacters") and not any(c.isupper() for c in password):
        problems.append("needs an uppercase letter")
    if policy.get("RequireLowercaseCharacters") and not any(c.islower() for c in password):
        problems.append("needs a lowercase letter")
    if problems:
        raise AwsErrorPassword("Password does not conform to the account password policy: "
                               + ", ".join(problems) + ".")


def AwsErrorPassword(message: str) -> Exception:
    from cloudctl.errors import AwsError

    return AwsError(message, code="PasswordPolicyViolation", status=400)


def _key_out(key: AccessKey, user_name: str) -> dict[str, Any]:
    return {"UserName": user_name, "AccessKeyId": key.access_key_id,
            "Status": "Active" if key.active else "Inactive", "CreateDate": key.created_at}


class KeysProvider(IamBase):

    async def _owner(self, ctx: RequestContext, params: dict[str, Any],
                     session: AsyncSession) -> tuple[Account, User | None]:
        account = await self.target_account(ctx, params, session)
        name = params.get("UserName")
        credential = ctx.credential
        if not name and not params.get("DelegateAccount") and credential is not None:
            if credential.principal_type == "root":
                return account, None
            name = caller_user_name(ctx)
        if not name:
            return account, None
        return account, await get_user(session, account.account_id, name)

    @operation("CreateAccessKey")
    async def create_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        limit = int(self.cloud.properties.get(ACCESS_KEYS_LIMIT))
        async with self.cloud.sessions() as session, session.begin():
            account, user = await self._owner(ctx, params, session)
            owner = AccessKey.user_id == user.user_id if user else AccessKey.user_id.is_(None)
            count = (await session.execute(select(func.count()).select_from(AccessKey).where(
                AccessKey.account_id == account.account_id, owner))).scalar_one()
            if count >= limit:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {limit}")
            secret = ids.secret_access_key()
            key = AccessKey(access_key_id=ids.access_key_id(), account_id=account.account_id,
                            user_id=user.user_id if user else None,
                            secret_sealed=self.cloud.secrets.seal(secret))
            session.add(key)
            await session.flush()
        out = _key_out(key, user.name if user else account.name)
        out["SecretAccessKey"] = secret
        return {"AccessKey": out}

    @operation("ListAccessKeys")
    async def list_access_keys(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account, user = await self._owner(ctx, params, session)
            owner = AccessKey.user_id == user.user_id if user else AccessKey.user_id.is_(None)
            rows = (await session.execute(select(AccessKey).where(
                AccessKey.account_id == account.account_id, owner)
                .order_by(AccessKey.access_key_id))).scalars().all()
        name = user.name if user else account.name
        return paginate([_key_out(k, name) for k in rows], params, lambda k: k["AccessKeyId"],
                        "AccessKeyMetadata")

    async def _key(self, ctx: RequestContext, params: dict[str, Any],
                   session: AsyncSession) -> AccessKey:
        account, user = await self._owner(ctx, params, session)
        key = await session.get(AccessKey, params["AccessKeyId"])
        if key is None or key.account_id != account.account_id or (
                key.user_id != (user.user_id if user else None)):
            raise no_such_entity(f"The Access Key with id {params['AccessKeyId']} cannot be found.")
        return key

    @operation("UpdateAccessKey")
    async def update_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        if params["Status"] not in ("Active", "Inactive"):
            raise validation("Status must be Active or Inactive.")
        async with self.cloud.sessions() as session, session.begin():
            key = await self._key(ctx, params, session)
            key.active = params["Status"] == "Active"
            await bump_epoch(session)
        self.invalidate(params["AccessKeyId"])
        return {}

    @operation("DeleteAccessKey")
    async def delete_access_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            await session.delete(await self._key(ctx, params, session))
            await bump_epoch(session)
        self.invalidate(params["AccessKeyId"])
        return {}

    @operation("GetAccessKeyLastUsed")
    async def get_access_key_last_used(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            key = await session.get(AccessKey, params["AccessKeyId"])
            if key is None or key.account_id != ctx.require_account():
                raise no_such_entity("The Access Key with id "
                                     f"{params['AccessKeyId']} cannot be found.")
            user = await session.get(User, key.user_id) if key.user_id else None
        last: dict[str, Any] = {"ServiceName": key.last_used_service or "N/A",
                                "Region": key.last_used_region or "N/A"}
        if key.last_used_at:
            last["LastUsedDate"] = key.last_used_at
        return {"UserName": user.name if user else "root", "AccessKeyLastUsed": last}

    @operation("CreateLoginProfile")
    async def create_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            user = await get_user(session, account.account_id, params["UserName"])
            if await session.get(LoginProfile, user.user_id) is not None:
                raise already_exists(f"Login Profile for user {user.name} already exists.")
            await _enforce_password_policy(session, account.account_id, params["Password"])
            profile = LoginProfile(user_id=user.user_id,
                                   password_hash=hash_password(params["Password"]),
                                   reset_required=bool(params.get("PasswordResetRequired")))
            session.add(profile)
            await session.flush()
        return {"LoginProfile": {"UserName": user.name, "CreateDate": profile.created_at,
                                 "PasswordResetRequired": profile.reset_required}}

    async def _profile(self, ctx: RequestContext, params: dict[str, Any],
                       session: AsyncSession) -> tuple[Account, User, LoginProfile]:
        account = await self.target_account(ctx, params, session)
        user = await get_user(session, account.account_id, params["UserName"])
        profile = await session.get(LoginProfile, user.user_id)
        if profile is None:
            raise no_such_entity(f"Login Profile for User {user.name} cannot be found.")
        return account, user, profile

    @operation("GetLoginProfile")
    async def get_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            _, user, profile = await self._profile(ctx, params, session)
        return {"LoginProfile": {"UserName": user.name, "CreateDate": profile.created_at,
                                 "PasswordResetRequired": profile.reset_required}}

    @operation("UpdateLoginProfile")
    async def update_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            account, _, profile = await self._profile(ctx, params, session)
            if params.get("Password"):
                await _enforce_password_policy(session, account.account_id, params["Password"])
                profile.password_hash = hash_password(params["Password"])
            if params.get("PasswordResetRequired") is not None:
                profile.reset_required = bool(params["PasswordResetRequired"])
        return {}

    @operation("DeleteLoginProfile")
    async def delete_login_profile(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            _, _, profile = await self._profile(ctx, params, session)
            await session.delete(profile)
        return {}

    @operation("UploadSigningCertificate")
    async def upload_signing_certificate(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        cert = _load_cert(params["CertificateBody"])
        async with self.cloud.sessions() as session, session.begin():
            account, user = await self._owner(ctx, params, session)
            cert_id = cert.fingerprint(_sha1()).hex().upper()[:32]
            if await session.get(SigningCertificate, cert_id) is not None:
                raise AwsErrorDuplicate()
            row = SigningCertificate(certificate_id=cert_id, account_id=account.account_id,
                                     user_id=user.user_id if user else None,
                                     body=params["CertificateBody"])
            session.add(row)
            await session.flush()
        return {"Certificate": _signing_out(row, user.name if user else account.name)}

    @operation("ListSigningCertificates")
    async def list_signing_certificates(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            account, user = await self._owner(ctx, params, session)
            owner = (SigningCertificate.user_id == user.user_id if user
                     else SigningCertificate.user_id.is_(None))
            rows = (await session.execute(select(SigningCertificate).where(
                SigningCertificate.account_id == account.account_id, owner)
                .order_by(SigningCertificate.certificate_id))).scalars().all()
        name = user.name if user else account.name
        return paginate([_signing_out(r, name) for r in rows], params,
                        lambda c: c["CertificateId"], "Certificates")

    async def _signing(self, ctx: RequestContext, params: dict[str, Any],
                       session: AsyncSession) -> SigningCertificate:
        account, user = await self._owner(ctx, params, session)
        row = await session.get(SigningCertificate, params["CertificateId"])
        if row is None or row.account_id != account.account_id or (
                row.user_id != (user.user_id if user else None)):
            raise no_such_entity(f"The Certificate with id {params['CertificateId']} "
                                 "cannot be found.")
        return row

    @operation("UpdateSigningCertificate")
    async def update_signing_certificate(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._signing(ctx, params, session)
            row.active = params["Status"] == "Active"
        return {}

    @operation("DeleteSigningCertificate")
    async def delete_signing_certificate(self, ctx: RequestContext,
                                         params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            await session.delete(await self._signing(ctx, params, session))
        return {}

    @operation("UploadServerCertificate")
    async def upload_server_certificate(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        cert = _load_cert(params["CertificateBody"])
        try:
            serialization.load_pem_private_key(params["PrivateKey"].encode(), password=None)
        except (ValueError, TypeError):
            raise AwsErrorMalformedCert("Unable to parse private key.") from None
        name, path = params["ServerCertificateName"], check_path(params.get("Path"))
        async with self.cloud.sessions() as session, session.begin():
            account = await self.target_account(ctx, params, session)
            if (await session.execute(select(ServerCertificate.certificate_id).where(
                    ServerCertificate.account_id == account.account_id,
                    ServerCertificate.name_lower == name.lower()))).first():
                raise already_exists(f"The Server Certificate with name {name} already exists.")
            row = ServerCertificate(
                certificate_id="ASCA" + ids.user_id()[4:], account_id=account.account_id,
                name=name, name_lower=name.lower(), path=path, body=params["CertificateBody"],
                chain=params.get("CertificateChain"),
                private_key_sealed=self.cloud.secrets.seal(params["PrivateKey"]),
                expiration=cert.not_valid_after_utc.astimezone(UTC))
            session.add(row)
            await session.flush()
        return {"ServerCertificateMetadata": _server_meta(row)}

    async def _server(self, ctx: RequestContext, params: dict[str, Any],
                      session: AsyncSession) -> ServerCertificate:
        account = await self.target_account(ctx, params, session)
        name = params["ServerCertificateName"]
        row = (await session.execute(select(ServerCertificate).where(
            ServerCertificate.account_id == account.account_id,
            ServerCertificate.name_lower == name.lower()))).scalar_one_or_none()
        if row is None:
            raise no_such_entity(f"The Server Certificate with name {name} cannot be found.")
        return row

    @operation("GetServerCertificate")
    async def get_server_certificate(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            row = await self._server(ctx, params, session)
        out: dict[str, Any] = {"ServerCertificateMetadata": _server_meta(row),
                               "CertificateBody": row.body}
        if row.chain:
            out["CertificateChain"] = row.chain
        return {"ServerCertificate": out}

    @operation("ListServerCertificates")
    async def list_server_certificates(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> Result:
        from cloudctl.services.iam.entities import page

        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            rows, truncated = await page(session, ServerCertificate, account.account_id, params)
        from cloudctl.services.iam.entities import paged

        return paged("ServerCertificateMetadataList", rows, truncated, _server_meta)

    @operation("UpdateServerCertificate")
    async def update_server_certificate(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            row = await self._server(ctx, params, session)
            if params.get("NewServerCertificateName"):
                row.name = params["NewServerCertificateName"]
                row.name_lower = row.name.lower()
            if params.get("NewPath"):
                row.path = check_path(params["NewPath"])
        return {}

    @operation("DeleteServerCertificate")
    async def delete_server_certificate(self, ctx: RequestContext,
                                        params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            await session.delete(await self._server(ctx, params, session))
        return {}


def _sha1() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA1()


def _load_cert(body: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(body.encode())
    except ValueError:
        raise AwsErrorMalformedCert("Unable to parse certificate. Please ensure the certificate "
                                    "is in PEM format.") from None


def AwsErrorMalformedCert(message: str) -> Exception:
    from cloudctl.errors import AwsError

    return AwsError(message, code="MalformedCertificate", status=400)


def AwsErrorDuplicate() -> Exception:
    from cloudctl.errors import AwsError

    return AwsError("The request was rejected because the same certificate is associated with "
                    "an IAM user in the account.", code="DuplicateCertificate", status=409)


def _signing_out(row: SigningCertificate, user_name: str) -> dict[str, Any]:
    return {"UserName": user_name, "CertificateId": row.certificate_id,
            "CertificateBody": row.body, "Status": "Active" if row.active else "Inactive",
            "UploadDate": row.uploaded_at}


def _server_meta(row: ServerCertificate) -> dict[str, Any]:
    return {"Path": row.path, "ServerCertificateName": row.name,
            "ServerCertificateId": row.certificate_id,
            "Arn": arn(row.account_id, "server-certificate", row.path, row.name),
            "UploadDate": row.uploaded_at, "Expiration": row.expiration}
