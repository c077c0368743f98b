"""Identity tables: accounts, users and access keys.

Owned by the IAM service; other services reach identities only through
``cloudctl.services.iam`` public functions, never these tables directly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
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
    """An IAM user; the user named ``admin`` at path ``/`` administers its account."""

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
