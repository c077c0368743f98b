"""Tables of EDGE networking: security groups, rules, memberships, addresses, NICs, view state.

Owned by the network area (security groups, addresses, NICs, the view
version and per-host applied versions). Other services reach them only
through the public functions of `cloudctl.services.ec2.network.security_groups`,
`cloudctl.services.ec2.network.addresses` and `cloudctl.services.network.nics`; the
view's renderer reads the first four through EC2's feed (`feed`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow


class SecurityGroupRow(RegionalMixin, Base):
    """A security group of one account in one region (`sg-...`)."""

    __tablename__ = "ec2_security_groups"
    __table_args__ = (UniqueConstraint("account_id", "region", "vpc_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # the VPC of a VPC group (``cloudctl.services.ec2.vpc``); "" for an EDGE group
    vpc_id: Mapped[str] = mapped_column(String(32), default="", server_default="")
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SecurityGroupRuleRow(Base):
    """One rule (`sgr-...`): protocol/ports and exactly one peer (a CIDR or a group)."""

    __tablename__ = "ec2_security_group_rules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ec2_security_groups.id", ondelete="CASCADE"), index=True)
    egress: Mapped[bool] = mapped_column(Boolean, default=False)
    protocol: Mapped[str] = mapped_column(String(8))
    from_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cidr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    peer_group_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    peer_account: Mapped[str | None] = mapped_column(String(12), nullable=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class InstanceGroupRow(Base):
    """An instance's membership of a group (`position` keeps the launch order)."""

    __tablename__ = "ec2_instance_security_groups"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ec2_security_groups.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AddressRow(Base):
    """A public address taken from the pool: an elastic IP (`kind` "elastic", owned by
    `account_id`, `eipalloc-...`) or one assigned at launch (`kind` "auto")."""

    __tablename__ = "ec2_addresses"

    public_ip: Mapped[str] = mapped_column(String(15), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    allocation_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    instance_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    association_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    allocated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class InstanceNicRow(RegionalMixin, Base):
    """An instance's network interface: MAC and private IP from the EDGE config,
    the host and tap it was bound to once placed."""

    __tablename__ = "net_instance_nics"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    private_ip: Mapped[str] = mapped_column(String(15), unique=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    interface: Mapped[str | None] = mapped_column(String(15), nullable=True)


class NetworkStateRow(Base):
    """The single row holding the network view version (bumped on every change)."""

    __tablename__ = "net_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class HostStatusRow(Base):
    """What a host's netd last reported: the view version it applied, or its error."""

    __tablename__ = "net_host_status"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    desired_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    applied_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[str] = mapped_column(Text, default="{}")


NETWORK_TABLES = (SecurityGroupRow, SecurityGroupRuleRow, InstanceGroupRow, AddressRow, InstanceNicRow, NetworkStateRow, HostStatusRow)
