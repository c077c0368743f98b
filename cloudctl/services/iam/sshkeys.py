"""SSH public keys and service-specific credentials of IAM users.

SSH keys (``UploadSSHPublicKey``...): ssh-rsa (at least 2048 bits), ecdsa-sha2-* and
ssh-ed25519 keys in OpenSSH (``authorized_keys`` line) or SSH2 (RFC 4716) form;
fingerprint is the MD5 of the key blob in colon-separated hex, as AWS shows it; at
most five per user; ``GetSSHPublicKey`` answers the OpenSSH form (``SSH``) or the
PEM SubjectPublicKeyInfo (``PEM``).

Service-specific credentials: a user name and generated password for one service
(``codecommit.amazonaws.com``, ``cassandra.amazonaws.com``), at most two per user and
service; the password is hashed and shown only at creation and reset.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets as pysecrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Result, operation
from cloudctl.services.iam.common import (
    IamBase,
    limit_exceeded,
    no_such_entity,
    paginate,
    validation,
)
from cloudctl.services.iam.keys import hash_password
from cloudctl.services.iam.models import Account, ServiceCredential, SshPublicKey, User
from cloudctl.services.iam.users import caller_user_name, get_user

SSH_KEYS_PER_USER = 5
CREDENTIALS_PER_SERVICE = 2
SERVICES = ("codecommit.amazonaws.com", "cassandra.amazonaws.com")
_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
              "ecdsa-sha2-nistp521")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _invalid_key() -> AwsError:
    return AwsError("The public key is malformed or otherwise invalid.",
                    code="InvalidPublicKey", status=400)


def _ssh2_to_openssh(text: str) -> str:
    """An RFC 4716 (``---- BEGIN SSH2 PUBLIC KEY ----``) key as an OpenSSH line."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[-1] != "---- END SSH2 PUBLIC KEY ----":
        raise _invalid_key()
    body: list[str] = []
    continued = False
    for line in lines[1:-1]:
        if continued or ":" in line:  # a header, possibly continued with a backslash
            continued = line.endswith("\\")
            continue
        body.append(line)
    try:
        blob = base64.b64decode("".join(body), validate=True)
        kind = blob[4:4 + int.from_bytes(blob[:4], "big")].decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_key() from None
    return f"{kind} {base64.b64encode(blob).decode()}"


def parse_key(body: Any) -> tuple[str, bytes]:
    """(the OpenSSH line, the key blob) of an uploaded key; AWS's errors otherwise."""
    text = str(body or "").strip()
    if text.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
        text = _ssh2_to_openssh(text)
    parts = text.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise AwsError("The public key encoding format is unknown or unsupported.",
                       code="UnrecognizedPublicKeyEncoding", status=400)
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error, TypeError):
        raise _invalid_key() from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise _invalid_key()
    return " ".join(parts[:3]), blob


def fingerprint(blob: bytes) -> str:
    """AWS's fingerprint of a key: MD5 of the blob, colon-separated lowercase hex."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _new_id(prefix: str) -> str:
    return prefix + "".join(pysecrets.choice(_ID_ALPHABET) for _ in range(17))


def _key_out(row: SshPublicKey, user_name: str, encoding: str = "SSH") -> dict[str, Any]:
    body = row.body
    if encoding == "PEM":
        key = serialization.load_ssh_public_key(" ".join(body.split()[:2]).encode())
        body = key.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {"UserName": user_name, "SSHPublicKeyId": row.ssh_key_id,
            "Fingerprint": row.fingerprint, "SSHPublicKeyBody": body,
            "Status": "Active" if row.active else "Inactive", "UploadDate": row.uploaded_at}


def _credential_out(row: ServiceCredential, user_name: str) -> dict[str, Any]:
    return {"UserName": user_name, "Status": "Active" if row.active else "Inactive",
            "ServiceUserName": row.service_user_name, "CreateDate": row.created_at,
            "ServiceSpecificCredentialId": row.credential_id, "ServiceName": row.service_name}


def _status(params: dict[str, Any]) -> bool:
    status = params.get("Status")
    if status not in ("Active", "Inactive"):
        raise validation("1 validation error detected: Value at 'status' failed to satisfy "
                         "constraint: Member must satisfy enum value set: [Active, Inactive]")
    return bool(status == "Active")


def _service(name: Any) -> str:
    if name not in SERVICES:
        raise AwsError(f"No such service {name} is supported for Service-Specific Credentials",
                       code="NotSupportedService", status=404)
    return str(name)


class SshKeysProvider(IamBase):

    async def _user(self, ctx: RequestContext, params: dict[str, Any],
                    session: AsyncSession, default_caller: bool = False) -> tuple[Account, User]:
        account = await self.target_account(ctx, params, session)
        name = params.get("UserName")
        if not name and default_caller:
            name = caller_user_name(ctx)
        return account, await get_user(session, account.account_id, str(name))

    async def _ssh_key(self, ctx: RequestContext, params: dict[str, Any],
                       session: AsyncSession) -> tuple[User, SshPublicKey]:
        _, user = await self._user(ctx, params, session)
        row = await session.get(SshPublicKey, params["SSHPublicKeyId"])
        if row is None or row.user_id != user.user_id:
            raise no_such_entity(f"The Public Key with id {params['SSHPublicKeyId']} "
                                 "cannot be found.")
        return user, row

    @operation("UploadSSHPublicKey")
    async def upload_ssh_public_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        line, blob = parse_key(params.get("SSHPublicKeyBody"))
        print_ = fingerprint(blob)
        async with self.cloud.sessions() as session, session.begin():
            account, user = await self._user(ctx, params, session)
            rows = (await session.execute(select(SshPublicKey).where(
                SshPublicKey.user_id == user.user_id))).scalars().all()
            if any(r.fingerprint == print_ for r in rows):
                raise AwsError("The public key has already been uploaded for this user.",
                               code="DuplicateSSHPublicKey", status=400)
            if len(rows) >= SSH_KEYS_PER_USER:
                raise limit_exceeded("Cannot exceed quota for SSHPublicKeysPerUser: "
                                     f"{SSH_KEYS_PER_USER}")
            row = SshPublicKey(ssh_key_id=_new_id("APKA"), account_id=account.account_id,
                               user_id=user.user_id, body=line, fingerprint=print_)
            session.add(row)
            await session.flush()
        return {"SSHPublicKey": _key_out(row, user.name)}

    @operation("GetSSHPublicKey")
    async def get_ssh_public_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        encoding = params.get("Encoding")
        if encoding not in ("SSH", "PEM"):
            raise AwsError("The public key encoding format is unknown or unsupported.",
                           code="UnrecognizedPublicKeyEncoding", status=400)
        async with self.cloud.sessions() as session:
            user, row = await self._ssh_key(ctx, params, session)
        return {"SSHPublicKey": _key_out(row, user.name, encoding)}

    @operation("ListSSHPublicKeys")
    async def list_ssh_public_keys(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session:
            _, user = await self._user(ctx, params, session, default_caller=True)
            rows = (await session.execute(select(SshPublicKey).where(
                SshPublicKey.user_id == user.user_id).order_by(SshPublicKey.ssh_key_id))
            ).scalars().all()
        items: list[dict[str, Any]] = [{"UserName": user.name, "SSHPublicKeyId": r.ssh_key_id,
                  "Status": "Active" if r.active else "Inactive", "UploadDate": r.uploaded_at}
                 for r in rows]
        return paginate(items, params, lambda k: k["SSHPublicKeyId"], "SSHPublicKeys")

    @operation("UpdateSSHPublicKey")
    async def update_ssh_public_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        active = _status(params)
        async with self.cloud.sessions() as session, session.begin():
            _, row = await self._ssh_key(ctx, params, session)
            row.active = active
        return {}

    @operation("DeleteSSHPublicKey")
    async def delete_ssh_public_key(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            _, row = await self._ssh_key(ctx, params, session)
            await session.delete(row)
        return {}

    # ---- service-specific credentials ---------------------------------------------------
    async def _credential(self, ctx: RequestContext, params: dict[str, Any],
                          session: AsyncSession) -> tuple[User, ServiceCredential]:
        _, user = await self._user(ctx, params, session, default_caller=True)
        row = await session.get(ServiceCredential, params["ServiceSpecificCredentialId"])
        if row is None or row.user_id != user.user_id:
            raise no_such_entity("No such credential "
                                 f"{params['ServiceSpecificCredentialId']} exists")
        return user, row

    @operation("CreateServiceSpecificCredential")
    async def create_service_specific_credential(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> Result:
        service = _service(params.get("ServiceName"))
        password = base64.b64encode(pysecrets.token_bytes(30)).decode()
        async with self.cloud.sessions() as session, session.begin():
            account, user = await self._user(ctx, params, session)
            count = (await session.execute(select(func.count()).select_from(ServiceCredential)
                                           .where(ServiceCredential.user_id == user.user_id,
                                                  ServiceCredential.service_name == service))
                     ).scalar_one()
            if count >= CREDENTIALS_PER_SERVICE:
                raise limit_exceeded("Cannot exceed quota for "
                                     f"ServiceSpecificCredentialsPerUserPerService: "
                                     f"{CREDENTIALS_PER_SERVICE}")
            row = ServiceCredential(credential_id=_new_id("ACCA"), account_id=account.account_id,
                                    user_id=user.user_id, service_name=service,
                                    service_user_name=f"{user.name}-at-{account.account_id}",
                                    password_hash=hash_password(password))
            session.add(row)
            await session.flush()
        out = _credential_out(row, user.name)
        out["ServicePassword"] = password
        return {"ServiceSpecificCredential": out}

    @operation("ListServiceSpecificCredentials")
    async def list_service_specific_credentials(self, ctx: RequestContext,
                                                params: dict[str, Any]) -> Result:
        service = params.get("ServiceName")
        if service is not None:
            _service(service)
        async with self.cloud.sessions() as session:
            account = await self.target_account(ctx, params, session)
            query = select(ServiceCredential, User).join(
                User, User.user_id == ServiceCredential.user_id).where(
                ServiceCredential.account_id == account.account_id)
            if not params.get("AllUsers"):
                _, user = await self._user(ctx, params, session, default_caller=True)
                query = query.where(ServiceCredential.user_id == user.user_id)
            if service is not None:
                query = query.where(ServiceCredential.service_name == service)
            rows = (await session.execute(query.order_by(ServiceCredential.credential_id))).all()
        items: list[dict[str, Any]] = [_credential_out(c, u.name) for c, u in rows]
        return paginate(items, params, lambda c: c["ServiceSpecificCredentialId"],
                        "ServiceSpecificCredentials")

    @operation("UpdateServiceSpecificCredential")
    async def update_service_specific_credential(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> Result:
        active = _status(params)
        async with self.cloud.sessions() as session, session.begin():
            _, row = await self._credential(ctx, params, session)
            row.active = active
        return {}

    @operation("ResetServiceSpecificCredential")
    async def reset_service_specific_credential(self, ctx: RequestContext,
                                                params: dict[str, Any]) -> Result:
        password = base64.b64encode(pysecrets.token_bytes(30)).decode()
        async with self.cloud.sessions() as session, session.begin():
            user, row = await self._credential(ctx, params, session)
            row.password_hash = hash_password(password)
        out = _credential_out(row, user.name)
        out["ServicePassword"] = password
        return {"ServiceSpecificCredential": out}

    @operation("DeleteServiceSpecificCredential")
    async def delete_service_specific_credential(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> Result:
        async with self.cloud.sessions() as session, session.begin():
            _, row = await self._credential(ctx, params, session)
            await session.delete(row)
        return {}
