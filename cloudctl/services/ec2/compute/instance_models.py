"""Tables of instances and instance types, and the capacity queries on them.

``ec2_instances`` holds the intent (the EC2 state the user asked for and the
launch spec resolved at RunInstances) and what the controller observed; the
controller writes only observed columns and state transitions it owns, with a
compare-and-set on the prior state. ``ec2_instance_types`` holds the types and
their (admin-modifiable) sizes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow

# states that hold a node's cores and memory
HOLDING = ("pending", "running", "stopping", "shutting-down")
LIVE = ("pending", "running", "stopping", "stopped", "shutting-down")


class InstanceType(Base):
    __tablename__ = "ec2_instance_types"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cpu: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    disk_gib: Mapped[int] = mapped_column(Integer)
    legacy: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Instance(RegionalMixin, Base):
    __tablename__ = "ec2_instances"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(String(32), index=True)
    owner_id: Mapped[str] = mapped_column(String(12))
    requester_arn: Mapped[str] = mapped_column(String(255), default="")
    image_id: Mapped[str] = mapped_column(String(32))
    kernel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ramdisk_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    instance_type: Mapped[str] = mapped_column(String(32))
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    zone: Mapped[str] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    state_reason_code: Mapped[str] = mapped_column(String(64), default="")
    state_reason_message: Mapped[str] = mapped_column(String(255), default="")
    transition_reason: Mapped[str] = mapped_column(String(255), default="")
    reboot_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    private_ip: Mapped[str | None] = mapped_column(String(45), nullable=True, index=True)
    public_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    mac: Mapped[str] = mapped_column(String(17))
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    launch_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    user_data: Mapped[str] = mapped_column(Text, default="")  # base64, as sent
    security_group_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    security_group_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    iam_instance_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    block_device_mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    root_device_type: Mapped[str] = mapped_column(String(16), default="instance-store")
    root_device_name: Mapped[str] = mapped_column(String(32), default="/dev/sda1")
    disable_api_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    shutdown_behavior: Mapped[str] = mapped_column(String(16), default="stop")
    http_tokens: Mapped[str] = mapped_column(String(16), default="optional")
    http_endpoint: Mapped[str] = mapped_column(String(16), default="enabled")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # nodectl InstanceSpec JSON
    observed_power: Mapped[str] = mapped_column(String(16), default="")
    last_error: Mapped[str] = mapped_column(String(512), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


async def usage_by_node(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """node -> (cores, memory MiB) held by its live instances."""
    rows = await session.execute(
        select(Instance.node, func.sum(Instance.vcpus), func.sum(Instance.memory_mib))
        .where(Instance.state.in_(HOLDING), Instance.node.is_not(None))
        .group_by(Instance.node))
    return {str(node): (int(c or 0), int(m or 0)) for node, c, m in rows}
