"""Tables of MFA devices, identity providers (OIDC, SAML) and service-linked role deletions.

Kept apart from ``models`` so the MFA/federation schema (revision
``0014_iam_mfa_federation``) stays self-contained. A virtual MFA device's TOTP seed
is sealed with the cloud's SecretBox (bound to the device's serial number), never
stored in clear; ``last_step`` is the highest TOTP time step ever accepted, so a code
cannot be used twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow


def _account() -> Mapped[str]:
    return mapped_column(String(12), ForeignKey("iam_accounts.account_id", ondelete="CASCADE"),
                         index=True)


class MfaDevice(Base):
    """A virtual MFA device; ``user_id`` is set while it is enabled for a user."""

    __tablename__ = "iam_mfa_devices"

    serial: Mapped[str] = mapped_column(String(512), primary_key=True)
    account_id: Mapped[str] = _account()
    name: Mapped[str] = mapped_column(String(226))
    path: Mapped[str] = mapped_column(String(512), default="/")
    seed_sealed: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("iam_users.user_id", ondelete="SET NULL"), nullable=True,
        index=True)
    enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    drift: Mapped[int] = mapped_column(Integer, default=0)
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OidcProvider(Base):
    """An OpenID Connect identity provider; ``url`` keeps the scheme it was created with."""

    __tablename__ = "iam_oidc_providers"

    arn: Mapped[str] = mapped_column(String(1024), primary_key=True)
    account_id: Mapped[str] = _account()
    url: Mapped[str] = mapped_column(String(1024))
    client_ids_json: Mapped[str] = mapped_column(Text, default="[]")
    thumbprints_json: Mapped[str] = mapped_column(Text, default="[]")
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SamlProvider(Base):
    """A SAML 2.0 identity provider: its metadata document (signing certificate)."""

    __tablename__ = "iam_saml_providers"

    arn: Mapped[str] = mapped_column(String(1024), primary_key=True)
    account_id: Mapped[str] = _account()
    name: Mapped[str] = mapped_column(String(128))
    metadata_document: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceRoleDeletion(Base):
    """The outcome of a DeleteServiceLinkedRole task."""

    __tablename__ = "iam_slr_deletions"

    task_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    account_id: Mapped[str] = _account()
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


FEDERATION_TABLES = (MfaDevice, OidcProvider, SamlProvider, ServiceRoleDeletion)
