"""IAM's public API: what other services may call (never IAM's tables or modules).

An import-linter contract keeps every other service to this module. Functions take
the caller's session where they read within its transaction.

- identities: ``cloud_admin_account_id``, ``account_identity``, ``account_by_canonical_id``,
  ``account_by_email`` (S3's owners and grantees);
- roles handed to the cloud: ``require_pass_role``, ``require_pass_profile_role``,
  ``resolve_instance_profile``, ``forget_instance_credentials``,
  ``instance_profile_credentials`` (the metadata service's iam/ tree);
- bundles: ``active_signing_certificates``;
- policy documents: ``validate_policy`` and ``PolicyError`` (S3 bucket policies);
- operations as a principal (CloudFormation's IAM types, ``iam.actions``): ``iam_call``,
  ``iam_delete``, ``create_user``, ``create_users`` and ``delete_users`` (many in one transaction), ``get_user``, ``create_group``, ``create_role``,
  ``create_policy``, ``create_instance_profile``, ``create_access_key``;
- ``assume_service_role``: a session of a role that trusts an AWS service principal
  (a stack's RoleARN);
- server certificates: ``server_certificate`` (ELB's HTTPS and SSL listeners).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.auth.secrets import SecretBox
from cloudctl.services.iam.actions import (
    assume_service_role,
    create_access_key,
    create_group,
    create_instance_profile,
    create_policy,
    create_role,
    create_user,
    create_users,
    delete_users,
    get_user,
    iam_call,
    iam_delete,
)
from cloudctl.services.iam.bootstrap import ensure_account, find_account
from cloudctl.services.iam.instance_credentials import forget as forget_instance_credentials
from cloudctl.services.iam.instance_credentials import (
    instance_profile_credentials,
    resolve_instance_profile,
)
from cloudctl.services.iam.models import Account, ServerCertificate
from cloudctl.services.iam.passrole import require_pass_profile_role, require_pass_role
from cloudctl.services.iam.policy import PolicyError, validate_policy
from cloudctl.services.iam.signing import active_signing_certificates
from cloudctl.services.iam.storedkeys import CLOUD_ADMIN_ACCOUNT

__all__ = [
    "CLOUD_ADMIN_ACCOUNT",
    "AccountIdentity",
    "ServerCertificatePem",
    "PolicyError",
    "account_by_canonical_id",
    "account_by_email",
    "account_identity",
    "assume_service_role",
    "create_access_key",
    "create_group",
    "create_instance_profile",
    "create_policy",
    "create_role",
    "create_user",
    "create_users",
    "delete_users",
    "get_user",
    "iam_call",
    "iam_delete",
    "active_signing_certificates",
    "cloud_admin_account_id",
    "existing_cloud_admin_account_id",
    "forget_instance_credentials",
    "instance_profile_credentials",
    "require_pass_profile_role",
    "require_pass_role",
    "resolve_instance_profile",
    "server_certificate",
    "validate_policy",
]


@dataclass(frozen=True)
class AccountIdentity:
    """What other services may know of an account."""

    account_id: str
    name: str
    canonical_id: str


def _identity(row: Account) -> AccountIdentity:
    return AccountIdentity(row.account_id, row.name, row.canonical_id)


async def cloud_admin_account_id(session: AsyncSession) -> str:
    """The cloud administrator's account (``eucalyptus``), made if missing."""
    return (await ensure_account(session, CLOUD_ADMIN_ACCOUNT)).account_id


async def existing_cloud_admin_account_id(session: AsyncSession) -> str | None:
    """The cloud administrator's account, if it exists (nothing made)."""
    found = await find_account(session, CLOUD_ADMIN_ACCOUNT)
    return found.account_id if found is not None else None


async def account_identity(session: AsyncSession, account_id: str) -> AccountIdentity | None:
    row = await session.get(Account, account_id)
    return _identity(row) if row is not None else None


async def account_by_canonical_id(session: AsyncSession,
                                  canonical_id: str) -> AccountIdentity | None:
    row = (await session.execute(select(Account).where(Account.canonical_id == canonical_id))
           ).scalar_one_or_none()
    return _identity(row) if row is not None else None


async def account_by_email(session: AsyncSession, email: str) -> AccountIdentity | None:
    row = (await session.execute(select(Account).where(Account.email == email))
           ).scalars().first()
    return _identity(row) if row is not None else None


@dataclass(frozen=True)
class ServerCertificatePem:
    """A server certificate as a TLS terminator needs it (the key in clear)."""

    arn: str
    body: str
    chain: str
    private_key: str


async def server_certificate(session: AsyncSession, secrets: SecretBox, account_id: str,
                             arn: str) -> ServerCertificatePem | None:
    """The account's server certificate named by ``arn`` (``arn:aws:iam::<account>:
    server-certificate/<path><name>``), or None when it names none of the account's."""
    prefix = f"arn:aws:iam::{account_id}:server-certificate/"
    if not arn.startswith(prefix):
        return None
    rest = arn[len(prefix) - 1:]
    path, _, name = rest.rpartition("/")
    row = (await session.execute(select(ServerCertificate).where(
        ServerCertificate.account_id == account_id,
        ServerCertificate.name_lower == name.lower()))).scalar_one_or_none()
    if row is None or row.name != name or row.path != path + "/":
        return None
    return ServerCertificatePem(arn, row.body, row.chain or "",
                                secrets.open(row.private_key_sealed))
