"""Regions and availability zones configured at initialisation.

Owns the ``cloud_zones`` table. Zones belong to the cloud (not to an account);
EC2 describes them, the scheduler and storage place resources in them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


class Zone(Base):
    __tablename__ = "cloud_zones"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), index=True)
    zone_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="available")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


async def load_zones(cloud: Cloud) -> dict[str, list[str]]:
    async with cloud.sessions() as session:
        rows = (await session.execute(select(Zone).order_by(Zone.name))).scalars().all()
    zones: dict[str, list[str]] = {}
    for row in rows:
        zones.setdefault(row.region, []).append(row.name)
    return zones


async def list_zones(session: AsyncSession) -> list[Zone]:
    return list((await session.execute(select(Zone).order_by(Zone.name))).scalars().all())


async def ensure_zones(session: AsyncSession, region: str, names: list[str]) -> list[Zone]:
    """Create the zones that do not exist yet (idempotent)."""
    existing = {z.name: z for z in await list_zones(session)}
    for name in names:
        if name not in existing:
            zone = Zone(name=name, region=region, zone_id=f"{region[:8]}-az{len(existing) + 1}")
            session.add(zone)
            existing[name] = zone
    return [existing[n] for n in names]
