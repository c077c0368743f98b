"""Leadership terms in the database (``leader_terms``: kind -> epoch, host, since).

``claim`` records a new leader's epoch only if no newer one is recorded (the row's
update is what fences the previous leader: its next write finds another epoch);
on PostgreSQL it first ends the sessions of the host the row names, if another,
that are stuck: inside a transaction and waiting for their client for over
``STUCK_SECONDS``, or blocked writing to it. That host lost its ZooKeeper session (a
clean stop releases), so it is dead or cut off. A session cut off idle in its
transaction ends at the engine's idle-in-transaction timeout, but two others never do
and hold their row locks (the new leader's claim or writes) until TCP gives up, many
minutes later: one whose answer the server cannot send (``ClientWrite``), and one cut
off in the middle of an extended-protocol exchange (its Execute ran, the Sync never
came: "active", waiting in ``ClientRead``). Ending one stuck holder can hand the term
row to another of that host's sessions queued behind it (a fence check waiting on the
lock), which then takes it and waits, idle in its transaction, for a client that is gone:
so the claim waits on the row at most ``STUCK_SECONDS`` at a time (``lock_timeout``) and,
when the wait runs out, ends the stuck sessions again and retries.
``release`` clears the host of a term given up cleanly (the epoch stays, so nothing of
the old term can commit either way). The table is the Empyrean service's
(``cloudctl.services.empyrean.models.LeaderTerm``); the core writes it by name.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.core.election import Claim, Release
from cloudctl.db.base import UtcDateTime
from cloudctl.db.engine import APPLICATION_PREFIX

STUCK_SECONDS = 1.0
log = logging.getLogger(__name__)

_TAKE = text("UPDATE leader_terms SET epoch = :epoch, host = :host, since = :since "
             "WHERE kind = :kind AND epoch <= :epoch").bindparams(
                 bindparam("since", type_=UtcDateTime()))
_ADD = text("INSERT INTO leader_terms (kind, epoch, host, since) "
            "VALUES (:kind, :epoch, :host, :since)").bindparams(
                bindparam("since", type_=UtcDateTime()))
_END_STUCK = text(
    "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a "
    "JOIN leader_terms t ON a.application_name = :prefix || t.host "
    "WHERE t.kind = :kind AND t.host <> '' AND t.host <> :host "
    "AND a.datname = current_database() AND a.pid <> pg_backend_pid() "
    "AND (a.wait_event = 'ClientWrite' OR (a.xact_start IS NOT NULL "
    "AND a.wait_event_type = 'Client' "
    "AND a.state_change < now() - make_interval(secs => :stuck)))")
_LOCK_WAIT = text(f"SET LOCAL lock_timeout = {int(STUCK_SECONDS * 1000)}")
_LOCK_NOT_AVAILABLE = "55P03"
_GIVE_UP = text("UPDATE leader_terms SET host = '' WHERE kind = :kind AND epoch = :epoch")


def claimer(sessions: async_sessionmaker[AsyncSession], host: str) -> tuple[Claim, Release]:
    """The claim and release functions of ``host`` on the cloud's database."""

    async def claim(kind: str, epoch: int) -> bool:
        values = {"kind": kind, "epoch": epoch, "host": host, "since": datetime.now(UTC)}
        while True:
            await end_stuck(sessions, kind, host)
            try:
                return await _take(sessions, values)
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                    raise
                log.info("%s: the term row is still held; ending the previous "
                         "leader's stuck sessions again", kind)

    async def release(kind: str, epoch: int) -> None:
        async with sessions() as session, session.begin():
            await session.execute(_GIVE_UP, {"kind": kind, "epoch": epoch})

    return claim, release


async def _take(sessions: async_sessionmaker[AsyncSession], values: dict[str, Any]) -> bool:
    """Record the term unless a newer one is; a wait on the row past ``STUCK_SECONDS``
    raises (PostgreSQL's lock_timeout)."""
    for _attempt in range(2):
        try:
            async with sessions() as session, session.begin():
                if session.get_bind().dialect.name == "postgresql":
                    await session.execute(_LOCK_WAIT)
                result: Any = await session.execute(_TAKE, values)
                if result.rowcount == 1:
                    return True
                found = (await session.execute(
                    text("SELECT epoch FROM leader_terms WHERE kind = :kind"),
                    {"kind": values["kind"]})).scalar()
                if found is not None:
                    return False  # a newer epoch is recorded
                await session.execute(_ADD, values)
                return True
        except IntegrityError:
            continue  # another host added the row first: compare epochs again
    return False


async def end_stuck(sessions: async_sessionmaker[AsyncSession], kind: str, host: str) -> int:
    """End the stuck sessions of the host ``kind``'s term row names (see the module
    docstring); how many were signalled. Nothing on SQLite (one process writes)."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return 0
        found = (await session.execute(_END_STUCK, {
            "prefix": APPLICATION_PREFIX, "kind": kind, "host": host,
            "stuck": STUCK_SECONDS})).scalar()
        await session.commit()
    return int(found or 0)
