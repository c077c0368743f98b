"""Leadership terms in the database (``leader_terms``: kind -> epoch, host, since).

``claim`` records a new leader's epoch only if no newer one is recorded (the row's
update is what fences the previous leader: its next write finds another epoch);
``release`` clears the host of a term given up cleanly (the epoch stays, so nothing of
the old term can commit either way). The table is the Empyrean service's
(``cloudctl.services.empyrean.models.LeaderTerm``); the core writes it by name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.core.election import Claim, Release
from cloudctl.db.base import UtcDateTime

_TAKE = text("UPDATE leader_terms SET epoch = :epoch, host = :host, since = :since "
             "WHERE kind = :kind AND epoch <= :epoch").bindparams(
                 bindparam("since", type_=UtcDateTime()))
_ADD = text("INSERT INTO leader_terms (kind, epoch, host, since) "
            "VALUES (:kind, :epoch, :host, :since)").bindparams(
                bindparam("since", type_=UtcDateTime()))
_GIVE_UP = text("UPDATE leader_terms SET host = '' WHERE kind = :kind AND epoch = :epoch")


def claimer(sessions: async_sessionmaker[AsyncSession], host: str) -> tuple[Claim, Release]:
    """The claim and release functions of ``host`` on the cloud's database."""

    async def claim(kind: str, epoch: int) -> bool:
        values = {"kind": kind, "epoch": epoch, "host": host, "since": datetime.now(UTC)}
        for _attempt in range(2):
            try:
                async with sessions() as session, session.begin():
                    result: Any = await session.execute(_TAKE, values)
                    if result.rowcount == 1:
                        return True
                    found = (await session.execute(
                        text("SELECT epoch FROM leader_terms WHERE kind = :kind"),
                        {"kind": kind})).scalar()
                    if found is not None:
                        return False  # a newer epoch is recorded
                    await session.execute(_ADD, values)
                    return True
            except IntegrityError:
                continue  # another host added the row first: compare epochs again
        return False

    async def release(kind: str, epoch: int) -> None:
        async with sessions() as session, session.begin():
            await session.execute(_GIVE_UP, {"kind": kind, "epoch": epoch})

    return claim, release
