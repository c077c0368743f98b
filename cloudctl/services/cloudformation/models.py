"""CloudFormation tables: stacks, their resources, their events and change sets.

Owns ``cfn_stacks``, ``cfn_stack_resources``, ``cfn_stack_events`` and
``cfn_change_sets``, ``cfn_drift_detections``. A stack row is the user's intent (the template and parameters the
stack converges to, the operation under way) plus its status; the engine
(``cloudctl.services.cloudformation.engine``) drives it. A resource row is written
before the engine acts on it (the idempotency token of its creation, the attempt), so
a restart finds every resource it may have made.

Resource rows: ``role`` is ``current`` (the resource the logical id names now), ``old``
(replaced by an update, or of a previous template: deleted in cleanup, restored by a
rollback) or ``gone`` (deleted, kept for the record).

Must not: hold another service's state (physical ids only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow


class Stack(RegionalMixin, Base):
    __tablename__ = "cfn_stacks"
    # the by-name lookups' key (``store.find_stack``, ``store.live_stack_ref``)
    __table_args__ = (Index("ix_cfn_stacks_lookup", "account_id", "region", "name"),)

    stack_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(48), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    operation: Mapped[str] = mapped_column(String(16))  # CREATE, UPDATE, DELETE
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    template_body: Mapped[str] = mapped_column(Text)  # as the user sent it
    template: Mapped[dict[str, Any]] = mapped_column(JSON)  # processed (transforms applied)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)  # resolved values
    previous_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_template: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    previous_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    notification_arns: Mapped[list[str]] = mapped_column(JSON, default=list)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    role_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    access_key_id: Mapped[str] = mapped_column(String(128))  # the principal it acts as
    on_failure: Mapped[str] = mapped_column(String(16), default="ROLLBACK")
    timeout_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    termination_protection: Mapped[bool] = mapped_column(Boolean, default=False)
    stack_policy: Mapped[str | None] = mapped_column(Text, nullable=True)
    retain: Mapped[list[str]] = mapped_column(JSON, default=list)  # RetainResources
    request_token: Mapped[str | None] = mapped_column(String(128), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(512), default="")  # the API it was made on
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # a nested stack: the stack whose AWS::CloudFormation::Stack resource it is, the root
    parent_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    root_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # UpdateStack's StackPolicyDuringUpdateBody: the policy of the update under way
    policy_during_update: Mapped[str | None] = mapped_column(Text, nullable=True)
    drift_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    drift_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class StackResource(Base):
    __tablename__ = "cfn_stack_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stack_id: Mapped[str] = mapped_column(String(256), index=True)
    logical_id: Mapped[str] = mapped_column(String(256))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    role: Mapped[str] = mapped_column(String(16), default="current")
    type: Mapped[str] = mapped_column(String(256))
    physical_id: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    status: Mapped[str] = mapped_column(String(48))
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    old_properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    depends: Mapped[list[str]] = mapped_column(JSON, default=list)
    deletion_policy: Mapped[str] = mapped_column(String(16), default="Delete")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    token: Mapped[str] = mapped_column(String(64))  # idempotency of this row's create
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str | None] = mapped_column(String(16), nullable=True)  # the action begun
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    drift_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    drift_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class StackEvent(Base):
    __tablename__ = "cfn_stack_events"
    __table_args__ = (UniqueConstraint("stack_id", "seq"),)

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stack_id: Mapped[str] = mapped_column(String(256), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    logical_id: Mapped[str] = mapped_column(String(256))
    physical_id: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    type: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(48))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    properties: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_token: Mapped[str | None] = mapped_column(String(128), nullable=True)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChangeSet(RegionalMixin, Base):
    __tablename__ = "cfn_change_sets"

    change_set_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    stack_id: Mapped[str] = mapped_column(String(256), index=True)
    change_set_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    execution_status: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    template_body: Mapped[str] = mapped_column(Text)
    template: Mapped[dict[str, Any]] = mapped_column(JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DriftDetection(RegionalMixin, Base):
    """One DetectStackDrift run: its status and each resource's StackResourceDrift."""

    __tablename__ = "cfn_drift_detections"

    detection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stack_id: Mapped[str] = mapped_column(String(256), index=True)
    status: Mapped[str] = mapped_column(String(32))  # DETECTION_COMPLETE / _FAILED
    stack_drift_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    drifted: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


CFN_TABLES = (Stack, StackResource, StackEvent, ChangeSet, DriftDetection)
