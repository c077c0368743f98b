"""Identity tables: accounts, users, access keys, groups, roles, policies, certificates.

Owned by the IAM service; other services reach identities only through
``cloudctl.services.iam`` public functions, never these tables directly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow


class Account(Base):
    """A Eucalyptus account: 12-digit id, unique name (its alias), root identity."""

    __tablename__ = "iam_accounts"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    canonical_id: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    """An IAM user; ``is_admin`` marks the account's administrator (set at creation of
    the account, never by name: the admin user cannot be renamed or deleted)."""

    __tablename__ = "iam_users"
    __table_args__ = (UniqueConstraint("account_id", "name_lower"),)

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("iam_accounts.account_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    name_lower: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    password_last_used: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    tags_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # ARN of the managed policy bounding the user's identity permissions (None: no boundary)
    permissions_boundary: Mapped[str | None] = mapped_column(String(2048), nullable=True)


class AccessKey(Base):
    """An access key; the secret is sealed (encrypted) at rest, never stored in clear."""

    __tablename__ = "iam_access_keys"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("iam_accounts.account_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="CASCADE"), index=True, nullable=True
    )
    secret_sealed: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_used_region: Mapped[str | None] = mapped_column(String(64), nullable=True)


def _account_fk() -> Mapped[str]:
    return mapped_column(String(12), ForeignKey("iam_accounts.account_id", ondelete="CASCADE"),
                         index=True)


class AccountSettings(Base):
    """Per-account IAM settings: the alias (at most one) and the password policy."""

    __tablename__ = "iam_account_settings"

    account_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("iam_accounts.account_id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str | None] = mapped_column(String(63), unique=True, nullable=True)
    password_policy: Mapped[str | None] = mapped_column(Text, nullable=True)


class Group(Base):
    __tablename__ = "iam_groups"
    __table_args__ = (UniqueConstraint("account_id", "name_lower"),)

    group_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    name: Mapped[str] = mapped_column(String(128))
    name_lower: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), default="/")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class GroupMember(Base):
    __tablename__ = "iam_group_members"

    group_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("iam_groups.group_id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="CASCADE"), primary_key=True,
        index=True)


class Role(Base):
    """A role: trust policy (who may assume it) and longest session it allows."""

    __tablename__ = "iam_roles"
    __table_args__ = (UniqueConstraint("account_id", "name_lower"),)

    role_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    name: Mapped[str] = mapped_column(String(64))
    name_lower: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    trust_policy: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    max_session_duration: Mapped[int] = mapped_column(Integer, default=3600)
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    permissions_boundary: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_region: Mapped[str | None] = mapped_column(String(64), nullable=True)


class InstanceProfile(Base):
    __tablename__ = "iam_instance_profiles"
    __table_args__ = (UniqueConstraint("account_id", "name_lower"),)

    profile_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    name: Mapped[str] = mapped_column(String(128))
    name_lower: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), default="/")
    role_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("iam_roles.role_id", ondelete="SET NULL"), nullable=True,
        index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tags_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class InlinePolicy(Base):
    """A policy embedded in a user, group or role (``owner_type`` says which)."""

    __tablename__ = "iam_inline_policies"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = _account_fk()
    owner_type: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)


class ManagedPolicy(Base):
    """A customer managed policy; AWS managed ones are built in (``iam.awspolicies``)."""

    __tablename__ = "iam_managed_policies"
    __table_args__ = (UniqueConstraint("account_id", "name_lower"),)

    policy_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    arn: Mapped[str] = mapped_column(String(1024), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_lower: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), default="/")
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    default_version: Mapped[str] = mapped_column(String(8), default="v1")
    next_version: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tags_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class PolicyVersion(Base):
    __tablename__ = "iam_policy_versions"

    policy_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("iam_managed_policies.policy_id", ondelete="CASCADE"),
        primary_key=True)
    version_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PolicyAttachment(Base):
    """A managed policy (by ARN, customer or AWS) attached to a user, group or role."""

    __tablename__ = "iam_policy_attachments"

    policy_arn: Mapped[str] = mapped_column(String(1024), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    owner_type: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[str] = _account_fk()


class LoginProfile(Base):
    __tablename__ = "iam_login_profiles"

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    reset_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServerCertificate(Base):
    __tablename__ = "iam_server_certificates"
    __table_args__ = (UniqueConstraint("account_id", "name_lower"),)

    certificate_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    name: Mapped[str] = mapped_column(String(128))
    name_lower: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512), default="/")
    body: Mapped[str] = mapped_column(Text)
    chain: Mapped[str | None] = mapped_column(Text, nullable=True)
    private_key_sealed: Mapped[str] = mapped_column(Text)
    expiration: Mapped[datetime] = mapped_column(UtcDateTime)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SigningCertificate(Base):
    __tablename__ = "iam_signing_certificates"

    certificate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    user_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="CASCADE"), index=True,
        nullable=True)
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SshPublicKey(Base):
    """An SSH public key of a user (CodeCommit-style); ``body`` as uploaded (OpenSSH)."""

    __tablename__ = "iam_ssh_public_keys"

    ssh_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceCredential(Base):
    """A service-specific credential (user name + password for one service); the
    password is hashed (scrypt), shown once at creation or reset."""

    __tablename__ = "iam_service_credentials"

    credential_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="CASCADE"), index=True)
    service_name: Mapped[str] = mapped_column(String(128))
    service_user_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CredentialReport(Base):
    """The account's last credential report (CSV), as GetCredentialReport serves it."""

    __tablename__ = "iam_credential_reports"

    account_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("iam_accounts.account_id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    generated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class StsSession(Base):
    """Temporary credentials issued by STS; the secret and token are sealed at rest."""

    __tablename__ = "sts_sessions"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = _account_fk()
    secret_sealed: Mapped[str] = mapped_column(Text)
    token_sealed: Mapped[str] = mapped_column(Text)
    principal_type: Mapped[str] = mapped_column(String(16))
    principal_arn: Mapped[str] = mapped_column(String(2048))
    user_id: Mapped[str] = mapped_column(String(128))
    source_id: Mapped[str] = mapped_column(String(32), index=True)
    # the long-term access key the session derives from (through any chain of sessions):
    # deleting or deactivating it ends the session
    parent_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    session_policy: Mapped[str | None] = mapped_column(Text, nullable=True)
    attributes_json: Mapped[str] = mapped_column(Text, default="{}")
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CredentialEpoch(Base):
    """One row: a counter bumped in every transaction that revokes a credential.

    Each API worker caches credentials; it reads this counter (a one-row primary key
    read) on every lookup and drops its cache when another worker bumped it.
    """

    __tablename__ = "iam_credential_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


IAM_TABLES = (Account, User, AccessKey, AccountSettings, Group, GroupMember, Role, InstanceProfile, InlinePolicy, ManagedPolicy, PolicyVersion, PolicyAttachment, LoginProfile, ServerCertificate, SigningCertificate, SshPublicKey, ServiceCredential, CredentialReport, StsSession, CredentialEpoch)
