"""Regions and availability zones configured at initialisation.

Owns the ``cloud_zones`` table. Zones belong to the cloud (not to an account);
EC2 describes them, the scheduler and storage place resources in them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, UtcDateTime, utcnow
from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


# AWS zone ids: the region's short form and the zone's number (us-east-1 -> use1-az1)
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
               "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}
_AWS_REGION = re.compile(r"^([a-z]{2})-(?:(gov|iso[a-z]?)-)?([a-z]+)-(\d+)$")


def region_short_name(region: str) -> str:
    """AWS's short form of a region name (``us-east-1`` -> ``use1``, ``ap-southeast-2`` ->
    ``apse2``); another name keeps its letters and digits (``eucalyptus`` -> ``eucalyptus``)."""
    match = _AWS_REGION.match(region)
    if match and match.group(3) in _DIRECTIONS:
        country, partition, direction, number = match.groups()
        infix = (partition or "")[:1]
        return f"{country}{infix}{_DIRECTIONS[direction]}{number}"
    return re.sub(r"[^a-z0-9]", "", region.lower())[:16] or "zone"


def zone_id(region: str, index: int) -> str:
    """The id of the ``index``-th (from 0) zone of ``region``, in name order: ``use1-az1``."""
    return f"{region_short_name(region)}-az{index + 1}"


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
    """Create the zones that do not exist yet (idempotent); ids follow AWS's form."""
    existing = {z.name: z for z in await list_zones(session)}
    taken = {z.zone_id for z in existing.values()}
    count = sum(1 for z in existing.values() if z.region == region)
    for name in sorted(set(names) - set(existing)):
        while zone_id(region, count) in taken:
            count += 1
        zone = Zone(name=name, region=region, zone_id=zone_id(region, count))
        session.add(zone)
        existing[name] = zone
        taken.add(zone.zone_id)
        count += 1
    return [existing[n] for n in names]


async def _startup(cloud: Cloud) -> None:
    """Load the zones every other service reads (before any provider starts)."""
    from cloudctl.properties.registry import registry

    cloud.region_zones = await load_zones(cloud)
    registry.set_zones([z for zones in cloud.region_zones.values() for z in zones])
    # the zones' own properties (``<zone>.storage.ceph.conf``...) exist from now on: the
    # cloud's first load skipped their stored values. Read them before anything uses
    # them, or a restarted EBS controller opens its RBD backend with the defaults and
    # waits for the next poll (and a backoff) to reopen it
    await cloud.properties.load()


def _install(cloud: Cloud) -> None:
    """The geography serves no API of its own (EC2 describes the zones)."""
    del cloud


SERVICE = ServiceSpec("geography", _install, tables=lambda: (Zone,), startup=_startup)
