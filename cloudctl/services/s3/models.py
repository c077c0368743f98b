"""S3 metadata tables: buckets, object versions, multipart uploads and their parts.

Owned by the S3 service. Bucket configuration documents (ACL, policy, lifecycle,
CORS, tags, encryption) are stored as JSON text on the bucket row; they are small
and always read whole. Object keys sort by byte value on every database (the key
column uses the ``C`` collation on PostgreSQL; SQLite compares bytes already).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, configure_mappers, mapped_column
from sqlalchemy.orm.instrumentation import manager_of_class

from cloudctl.db.base import Base, UtcDateTime, utcnow

_Row = TypeVar("_Row", bound=Base)
KeyString = String(1024).with_variant(String(1024, collation="C"), "postgresql")


class S3Bucket(Base):
    """A bucket; names are global across accounts and regions."""

    __tablename__ = "s3_buckets"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    region: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    versioning: Mapped[str] = mapped_column(String(16), default="")
    acl: Mapped[str] = mapped_column(Text, default="{}")
    policy: Mapped[str | None] = mapped_column(Text, nullable=True)
    lifecycle: Mapped[str | None] = mapped_column(Text, nullable=True)
    cors: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[str | None] = mapped_column(Text, nullable=True)
    encryption: Mapped[str | None] = mapped_column(Text, nullable=True)
    # bucket features (``public_access.py``, ``ownership.py``, ``object_lock.py``,
    # ``access_log.py``, ``website.py``, ``replication.py``, ``bucket_options.py``)
    public_access: Mapped[str | None] = mapped_column(Text, nullable=True)
    ownership: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_lock: Mapped[str | None] = mapped_column(Text, nullable=True)
    logging: Mapped[str | None] = mapped_column(Text, nullable=True)
    website: Mapped[str | None] = mapped_column(Text, nullable=True)
    replication: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_payment: Mapped[str | None] = mapped_column(String(16), nullable=True)
    accelerate: Mapped[str | None] = mapped_column(String(16), nullable=True)
    inventory: Mapped[str | None] = mapped_column(Text, nullable=True)


class S3Object(Base):
    """One version of an object (or a delete marker).

    ``latest`` is True for the current version and NULL otherwise, so the unique
    constraint allows exactly one current version per key even under concurrent
    writers. ``version_id`` is ``null`` for the null version. The data is in the blob
    ``blob_id``, or inline in ``inline_data`` for small objects, or nowhere (size 0).
    """

    __tablename__ = "s3_objects"
    __table_args__ = (
        UniqueConstraint("bucket", "key", "version_id", name="uq_s3_objects_version"),
        UniqueConstraint("bucket", "key", "latest", name="uq_s3_objects_latest"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(KeyString)
    version_id: Mapped[str] = mapped_column(String(64))
    latest: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    delete_marker: Mapped[bool] = mapped_column(Boolean, default=False)
    blob_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    etag: Mapped[str] = mapped_column(String(80), default="")
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    owner_account: Mapped[str] = mapped_column(String(12))
    storage_class: Mapped[str] = mapped_column(String(32), default="STANDARD")
    headers: Mapped[str] = mapped_column(Text, default="{}")
    acl: Mapped[str] = mapped_column(Text, default="{}")
    tags: Mapped[str | None] = mapped_column(Text, nullable=True)
    sse_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    parts: Mapped[int] = mapped_column(Integer, default=0)
    # The bytes of a small object (``blob_id`` is then NULL); deferred, so listings and
    # other multi-row reads never load them. See ``inline.py``.
    inline_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True,
                                                      deferred=True)


_configured = False


def built(cls: type[_Row], **fields: Any) -> _Row:
    """A ``cls`` row with ``fields`` set, built without the ORM's per-attribute events
    (~3 us instead of ~30 us; object PUTs and GETs build one each). It inserts, reads
    and reports unloaded attributes exactly as one made by the constructor."""
    global _configured
    if not _configured:  # attribute events exist once the mappers are configured
        configure_mappers()
        _configured = True
    row: _Row = manager_of_class(cls).new_instance()
    row.__dict__.update(fields)
    return row


def object_row(**fields: Any) -> S3Object:
    """An :class:`S3Object` built as :func:`built` does."""
    return built(S3Object, **fields)


class S3LogRecord(Base):
    """A server access log record waiting for delivery (``access_log.py``): any API
    process appends; the leader writes them as log objects and deletes them."""

    __tablename__ = "s3_log_records"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(63), index=True)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class S3Upload(Base):
    """A multipart upload in progress; its parts are rows of ``S3Part``."""

    __tablename__ = "s3_uploads"
    __table_args__ = (Index("ix_s3_uploads_bucket_key", "bucket", "key"),)

    upload_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(KeyString)
    account_id: Mapped[str] = mapped_column(String(12))
    initiated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    storage_class: Mapped[str] = mapped_column(String(32), default="STANDARD")
    headers: Mapped[str] = mapped_column(Text, default="{}")
    acl: Mapped[str] = mapped_column(Text, default="{}")
    tags: Mapped[str | None] = mapped_column(Text, nullable=True)
    sse: Mapped[bool] = mapped_column(Boolean, default=False)


class S3Part(Base):
    """One uploaded part of a multipart upload."""

    __tablename__ = "s3_parts"

    upload_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(80))
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class S3AccountPublicAccess(Base):
    """An account's Block Public Access settings (s3control PutPublicAccessBlock): they
    apply to every bucket of the account on top of the bucket's own."""

    __tablename__ = "s3_account_public_access"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    settings: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


S3_TABLES = (S3Bucket, S3Object, S3LogRecord, S3Upload, S3Part, S3AccountPublicAccess)
