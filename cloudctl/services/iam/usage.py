"""Role last use (``RoleLastUsed`` of GetRole), recorded cheaply.

A role is "used" when a session of it is issued (AssumeRole) or makes a request.
Each API worker writes a role's last use at most once per ``WRITE_EVERY`` seconds
(a one-row UPDATE by primary key), so a busy role session costs no write per call.
"""

from __future__ import annotations

import time

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.db.base import utcnow
from cloudctl.services.iam.models import Role

WRITE_EVERY = 60.0
_written: dict[str, float] = {}


async def note_role_use(sessions: async_sessionmaker[AsyncSession], role_id: str,
                        region: str | None) -> None:
    """Record that ``role_id`` was used now in ``region`` (throttled per worker)."""
    now = time.monotonic()
    if _written.get(role_id, -WRITE_EVERY) > now - WRITE_EVERY:
        return
    if len(_written) > 10000:
        _written.clear()
    _written[role_id] = now
    async with sessions() as session, session.begin():
        await session.execute(update(Role).where(Role.role_id == role_id).values(
            last_used_at=utcnow(), last_used_region=region))
