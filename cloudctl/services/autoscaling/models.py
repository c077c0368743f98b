"""Auto Scaling tables: launch configurations, groups, the group's instances (with the
launch intent: a row and its client token exist before RunInstances is called), scaling
activities, policies, scheduled actions and lifecycle hooks.

A resource's AWS-shaped settings are a JSON document (``definition``) beside the
columns that are queried or updated on their own (names, capacity, states, times).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow


class AsLaunchConfiguration(RegionalMixin, Base):
    __tablename__ = "as_launch_configurations"
    __table_args__ = (UniqueConstraint("account_id", "region", "name"),)

    arn: Mapped[str] = mapped_column(String(1600), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AsGroup(RegionalMixin, Base):
    """A group: its desired state (``definition``) and capacity, and when it last
    scaled (cooldowns)."""

    __tablename__ = "as_groups"
    __table_args__ = (UniqueConstraint("account_id", "region", "name"),)

    arn: Mapped[str] = mapped_column(String(1600), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[str] = mapped_column(Text)
    min_size: Mapped[int] = mapped_column(Integer)
    max_size: Mapped[int] = mapped_column(Integer)
    desired: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(64), default="")  # "Delete in progress"
    force_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    cooldown_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AsInstance(RegionalMixin, Base):
    """One instance of a group. Written with its ``token`` before RunInstances; the
    instance id is filled in after (a crash between the two re-runs with the token)."""

    __tablename__ = "as_instances"
    __table_args__ = (Index("ix_as_instances_group", "group_arn"),)

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_arn: Mapped[str] = mapped_column(String(1600))
    group_name: Mapped[str] = mapped_column(String(255))
    instance_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    zone: Mapped[str] = mapped_column(String(64))
    instance_type: Mapped[str] = mapped_column(String(64), default="")
    lifecycle_state: Mapped[str] = mapped_column(String(32))
    health: Mapped[str] = mapped_column(String(16), default="Healthy")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    launch_source: Mapped[str] = mapped_column(Text, default="{}")  # LC name / template
    activity_id: Mapped[str] = mapped_column(String(64), default="")
    hook_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    hook_result: Mapped[str] = mapped_column(String(16), default="")
    launched_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AsActivity(RegionalMixin, Base):
    __tablename__ = "as_activities"
    __table_args__ = (Index("ix_as_activities_group", "account_id", "region", "group_name",
                            "started_at"),)

    activity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    group_arn: Mapped[str] = mapped_column(String(1600))
    description: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    status_code: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AsPolicy(RegionalMixin, Base):
    __tablename__ = "as_policies"
    __table_args__ = (UniqueConstraint("account_id", "region", "group_name", "name"),)

    arn: Mapped[str] = mapped_column(String(1600), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[str] = mapped_column(Text)
    cooldown_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AsScheduledAction(RegionalMixin, Base):
    __tablename__ = "as_scheduled_actions"
    __table_args__ = (UniqueConstraint("account_id", "region", "group_name", "name"),)

    arn: Mapped[str] = mapped_column(String(1600), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[str] = mapped_column(Text)
    next_run: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AsLifecycleHook(RegionalMixin, Base):
    __tablename__ = "as_lifecycle_hooks"
    __table_args__ = (UniqueConstraint("account_id", "region", "group_name", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    transition: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str] = mapped_column(Text)


AUTOSCALING_TABLES = (AsLaunchConfiguration, AsGroup, AsInstance, AsActivity, AsPolicy,
                      AsScheduledAction, AsLifecycleHook)
