"""EC2 launch templates: a template (its default and latest version numbers) and its
versions (the LaunchTemplateData of each, as JSON)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow


class LaunchTemplate(RegionalMixin, Base):
    __tablename__ = "ec2_launch_templates"
    __table_args__ = (UniqueConstraint("account_id", "region", "name"),)

    template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    default_version: Mapped[int] = mapped_column(Integer, default=1)
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(2048), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LaunchTemplateVersion(Base):
    __tablename__ = "ec2_launch_template_versions"

    template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_by: Mapped[str] = mapped_column(String(2048), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
