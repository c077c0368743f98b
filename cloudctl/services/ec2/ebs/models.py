"""EBS tables: volumes, snapshots and snapshot create-volume permissions.

Owns ``ebs_volumes``, ``ebs_volume_attachments``, ``ebs_snapshots`` and
``ebs_snapshot_permissions``. A row is
the user's intent plus the observed result: the API writes a row in a transitional
state (``creating``, ``deleting``, ``pending``, a ``modifying`` modification) and the
block reconciler (``cloudctl.services.ec2.ebs.storage.reconciler``) drives the backend and
writes the settled state. A row is removed only after its backend object is gone,
so a backend object never exists without its row.

A volume without Multi-Attach keeps its one attachment in its own row (the
``instance_id``... columns). A Multi-Attach volume (io1/io2, ``multi_attach``) never
uses those columns: each of its attachments (up to 16) is an ``ebs_volume_attachments``
row, and the volume is ``in-use`` while any remains.

Must not: hold instance state (only the attachment fields the compute part sets
through ``cloudctl.services.ec2.ebs.attachments``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow

# Volume states (AWS): creating, available, in-use, deleting, error (deleted rows go).
VOLUME_CREATING = "creating"
VOLUME_AVAILABLE = "available"
VOLUME_IN_USE = "in-use"
VOLUME_DELETING = "deleting"
VOLUME_ERROR = "error"

# Snapshot states (AWS): pending, completed, error; ``deleting`` is internal (hidden).
SNAPSHOT_PENDING = "pending"
SNAPSHOT_COMPLETED = "completed"
SNAPSHOT_ERROR = "error"
SNAPSHOT_DELETING = "deleting"

# Volume modification states (AWS): modifying, optimizing, completed, failed.
MOD_MODIFYING = "modifying"
MOD_COMPLETED = "completed"
MOD_FAILED = "failed"


class Volume(RegionalMixin, Base):
    __tablename__ = "ebs_volumes"
    __table_args__ = (UniqueConstraint("account_id", "client_token"),)

    volume_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    zone: Mapped[str] = mapped_column(String(64), index=True)
    backend: Mapped[str] = mapped_column(String(16))
    size_gib: Mapped[int] = mapped_column(Integer)
    snapshot_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    volume_type: Mapped[str] = mapped_column(String(16), default="gp2")
    iops: Mapped[int | None] = mapped_column(Integer, nullable=True)
    throughput: Mapped[int | None] = mapped_column(Integer, nullable=True)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    kms_key_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # attachment (set by the compute part through ebs_attachments)
    instance_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    device: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attach_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attach_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    boot: Mapped[bool] = mapped_column(Boolean, default=False)
    # Multi-Attach: the attachments are VolumeAttachment rows (the columns above stay NULL)
    multi_attach: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # DetachVolume said Force: the controller detaches even when the node cannot
    force_detach: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the latest modification (ModifyVolume)
    mod_state: Mapped[str | None] = mapped_column(String(16), index=True, nullable=True)
    mod_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    mod_original_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mod_target_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mod_original_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    mod_target_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    mod_original_iops: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mod_target_iops: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mod_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    mod_end: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class VolumeAttachment(Base):
    """One attachment of a Multi-Attach volume to one instance."""

    __tablename__ = "ebs_volume_attachments"

    volume_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    device: Mapped[str] = mapped_column(String(64))
    attach_state: Mapped[str] = mapped_column(String(16), index=True)
    attach_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    force_detach: Mapped[bool] = mapped_column(Boolean, default=False)


class Snapshot(RegionalMixin, Base):
    __tablename__ = "ebs_snapshots"

    snapshot_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    zone: Mapped[str] = mapped_column(String(64), index=True)
    backend: Mapped[str] = mapped_column(String(16))
    volume_id: Mapped[str] = mapped_column(String(32), index=True)
    source_snapshot_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    volume_size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    kms_key_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SnapshotPermission(Base):
    """``createVolumePermission``: an account id, or ``all`` (the group)."""

    __tablename__ = "ebs_snapshot_permissions"

    snapshot_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grantee: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


EBS_TABLES = (Volume, VolumeAttachment, Snapshot, SnapshotPermission)
