"""ELB (classic) tables: one row a load balancer, its shape kept as JSON documents
(listeners, health check, attributes, policies, registered instances, tags) that the
API edits in one transaction and the data plane renders from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow


class ElbLoadBalancer(RegionalMixin, Base):
    """A classic load balancer of an account in a region."""

    __tablename__ = "elb_load_balancers"
    __table_args__ = (UniqueConstraint("account_id", "region", "name",
                                       name="uq_elb_load_balancers_name"),)

    lb_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    scheme: Mapped[str] = mapped_column(String(16), default="internet-facing")
    address: Mapped[str | None] = mapped_column(String(45), nullable=True)  # data plane
    public_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    # outside a VPC, cross-zone off: [zone, address, public address or None] of the
    # haproxy node of each enabled zone after the first (``<lb_id>z<n>``)
    zone_addresses: Mapped[list[list[str | None]]] = mapped_column(
        JSON, default=list, server_default="[]")
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    subnets: Mapped[list[str]] = mapped_column(JSON, default=list)
    security_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    listeners: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    health_check: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    policies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    backend_policies: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    instances: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


ELB_TABLES: tuple[type[Base], ...] = (ElbLoadBalancer,)
