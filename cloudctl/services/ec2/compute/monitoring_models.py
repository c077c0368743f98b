"""The table of per-instance monitoring: detailed monitoring and the status checks.

``ec2_instance_monitoring`` has a row for an instance once detailed monitoring was
asked for (RunInstances ``Monitoring.Enabled``, MonitorInstances) or once the metrics
collector (``cloudctl.services.ec2.compute.collector``) recorded a status check of it; no row
means basic monitoring and no check yet. The API writes ``detailed``; the collector
writes only the check columns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime

__all__ = ["MONITORING_TABLES", "InstanceMonitoring"]


class InstanceMonitoring(RegionalMixin, Base):
    __tablename__ = "ec2_instance_monitoring"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    detailed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "" (not checked yet), "passed" or "failed"
    instance_check: Mapped[str] = mapped_column(String(16), default="", server_default="")
    system_check: Mapped[str] = mapped_column(String(16), default="", server_default="")
    impaired_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


MONITORING_TABLES = (InstanceMonitoring,)
