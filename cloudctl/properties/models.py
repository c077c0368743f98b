"""The table holding property values that differ from their defaults."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow


class PropertyValue(Base):
    __tablename__ = "cloud_properties"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(BigInteger, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
