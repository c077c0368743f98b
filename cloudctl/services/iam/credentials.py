"""The credential store behind authentication: access keys and STS sessions.

Looks a key up by id (``AKIA...`` in the access-key table, ``ASIA...`` in the STS
session table), unseals its secret (and session token) and describes the principal.
The account administrator is the root or the user flagged ``is_admin`` (never a
name). A session whose parent access key was deleted or deactivated is unknown.

Results are cached for a few seconds per process; every lookup first reads the
credential epoch (``bump_epoch`` in the transaction of every revocation), so a
revocation made by any API worker holds in all of them from its response on.
``invalidate`` drops an entry at once after a local change. The epoch read is a raw
statement on SQLite (``iam.fastsql``) and on PostgreSQL (``cloudctl/db/pgreads.py``:
one autocommit round trip, which sees every revocation committed before it starts).

Concurrent lookups share epoch reads (:class:`_EpochReads`): a lookup waits for the
next read to *start*, never joins one already running (whose snapshot may predate
the lookup), so the guarantee holds with one read per batch: under 64 clients this
read was nearly half of all SELECTs and a whole transaction per request. On SQLite
the read is one statement on the loop's own connection, shared by the lookups of one
loop turn (the requests served in a turn reached the socket by the turn's poll, so
before the read; the next turn reads again before serving what its poll brings): a
statement a request cost ~3 % of a small call's CPU. On PostgreSQL, while its reads
run inline on the loop (``cloudctl/db/pginline.py``: a local server), the epoch read is
one such synchronous statement too, shared by the same loop-turn rule; otherwise (a far
server, an inline read that timed out or failed) it is the shared awaited read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.auth.credentials import Credential
from cloudctl.auth.secrets import SecretBox
from cloudctl.db import readpool
from cloudctl.db.pgreads import PgReads
from cloudctl.services.iam.fastsql import FastIam
from cloudctl.services.iam.models import AccessKey, Account, CredentialEpoch, StsSession, User
from cloudctl.services.iam.storedkeys import CLOUD_ADMIN_ACCOUNT

CACHE_TTL = 5.0
_EPOCH_PG = "SELECT generation FROM iam_credential_epoch WHERE id = 1"


def user_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:user{path}{name}"


async def bump_epoch(session: AsyncSession) -> None:
    """Make every worker drop its cached credentials once ``session`` commits."""
    result = await session.execute(update(CredentialEpoch).where(CredentialEpoch.id == 1)
                                   .values(generation=CredentialEpoch.generation + 1))
    if not getattr(result, "rowcount", 0):
        session.add(CredentialEpoch(id=1, generation=1))


async def read_epoch(session: AsyncSession) -> int:
    value = (await session.execute(select(CredentialEpoch.generation)
                                   .where(CredentialEpoch.id == 1))).scalar_one_or_none()
    return int(value or 0)


class _EpochReads:
    """Epoch reads shared by the lookups waiting when one starts.

    Each waiting lookup has a future of its own, which the read sets: the lookup's task
    is woken in the loop pass after the read ends (through a shared future and
    ``asyncio.shield`` it was two passes: the shield's callback, then the task's).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fast: Callable[[], FastIam | None] | None = None,
                 pg: Callable[[], PgReads | None] | None = None) -> None:
        self.sessions = sessions
        self._fast = fast  # SQLite: a raw read on the loop's own connection
        self._pg = pg  # PostgreSQL: one autocommit round trip, no session
        self._waiting: list[asyncio.Future[int]] = []  # lookups for the read not yet started
        self._reader: asyncio.Task[None] | None = None
        # The epoch read on the loop's connection in this loop turn, until the
        # next turn starts (``_turn_over``, scheduled by the read, runs before the
        # callbacks of anything the next turn's poll brings). Every request served in
        # this turn had reached the socket by this turn's poll (requests come through
        # the loop's selector), so before the read: a revocation answered before such
        # a request was sent had committed before it.
        # (the loop it was read on, the epoch): one attribute, set and cleared whole (a
        # thread running a loop of its own never sees half of another's)
        self._this_turn: tuple[asyncio.AbstractEventLoop, int] | None = None

    def _turn_over(self, loop: asyncio.AbstractEventLoop) -> None:
        turn = self._this_turn
        if turn is not None and turn[0] is loop:
            self._this_turn = None

    def _epoch_on_loop(self) -> int | None:
        """The epoch read now on the loop's own connection (SQLite's, or PostgreSQL's
        inline one); None: it must be read awaited."""
        fast = self._fast() if self._fast is not None else None
        if fast is not None:
            return fast.epoch_now()
        pg = self._pg() if self._pg is not None else None
        if pg is None:
            return None
        found = pg.inline_rows(_EPOCH_PG)
        if found is None:
            return None
        return int(found[0][0] or 0) if found else 0

    async def read(self) -> int:
        if self._fast is not None or self._pg is not None:
            # one read on the loop's own connection, shared by the lookups of this loop
            # turn (see ``_this_turn``); a locked SQLite database, or a PostgreSQL read
            # not inline now, falls through to the shared awaited read
            loop = asyncio.get_running_loop()
            turn = self._this_turn
            if turn is not None and turn[0] is loop:
                return turn[1]
            epoch = self._epoch_on_loop()
            if epoch is not None:
                # every value read is dropped when its loop's next turn starts (another
                # loop's value is never used here: a process may run more than one)
                self._this_turn = (loop, epoch)
                loop.call_soon(self._turn_over, loop)
                return epoch
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiting.append(waiter)
        if self._reader is None:
            self._reader = loop.create_task(self._run())
        return await waiter  # cancelled: the read skips it

    async def _run(self) -> None:
        batch: list[asyncio.Future[int]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []  # later lookups wait for the next one
                try:
                    epoch = await self._read_now()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_result(epoch)
                batch = []
        finally:
            self._reader = None
            for waiter in batch + self._waiting:
                waiter.cancel()
            self._waiting = []

    async def _read_now(self) -> int:
        fast = self._fast() if self._fast is not None else None
        pg = self._pg() if self._pg is not None and fast is None else None
        if fast is not None:
            return await fast.epoch()
        if pg is not None:
            found = await pg.one(_EPOCH_PG)
            return int(found[0] or 0) if found else 0
        async with readpool.read_session(self.sessions) as session:
            return await read_epoch(session)


class IamCredentialStore:
    """``CredentialStore`` over the IAM tables."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox,
                 fast: Callable[[], FastIam | None] | None = None,
                 pg: Callable[[], PgReads | None] | None = None) -> None:
        self.sessions = sessions
        self.secrets = secrets
        self._fast = fast  # SQLite: the epoch read without a session (``iam.fastsql``)
        self._cache: dict[str, tuple[float, Credential | None]] = {}
        self._epoch = -1
        self._epochs = _EpochReads(sessions, fast, pg)

    def invalidate(self, access_key_id: str | None = None) -> None:
        if access_key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(access_key_id, None)

    async def lookup(self, access_key_id: str) -> Credential | None:
        epoch = await self._epochs.read()
        if epoch != self._epoch:
            self._cache.clear()
            self._epoch = epoch
        now = time.monotonic()
        hit = self._cache.get(access_key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        credential = await self._load(access_key_id)
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[access_key_id] = (now + CACHE_TTL, credential)
        return credential

    async def _load(self, access_key_id: str) -> Credential | None:
        if not access_key_id or len(access_key_id) > 128:
            return None
        if access_key_id.startswith("ASIA"):
            return await self._load_session(access_key_id)
        async with readpool.read_session(self.sessions) as session:
            row = (await session.execute(
                select(AccessKey, Account, User)
                .join(Account, Account.account_id == AccessKey.account_id)
                .outerjoin(User, User.user_id == AccessKey.user_id)
                .where(AccessKey.access_key_id == access_key_id)
            )).first()
        if row is None:
            return None
        key, account, user = row
        if user is None:
            arn, user_id = f"arn:aws:iam::{account.account_id}:root", account.account_id
            name = "root"
        else:
            arn = user_arn(account.account_id, user.path, user.name)
            user_id, name = user.user_id, user.name
        is_account_admin = user is None or bool(user.is_admin)
        return Credential(
            access_key_id=key.access_key_id,
            secret_access_key=self.secrets.open(key.secret_sealed),
            account_id=account.account_id,
            principal_arn=arn,
            user_id=user_id,
            principal_type="root" if user is None else "user",
            session_token=None,
            expires_at=None,
            active=key.active,
            attributes={
                "account_name": account.name,
                "user_name": name,
                "account_admin": is_account_admin,
                "cloud_admin": is_account_admin and account.name == CLOUD_ADMIN_ACCOUNT,
                "has_boundary": bool(user is not None and user.permissions_boundary),
            },
        )

    async def _load_session(self, access_key_id: str) -> Credential | None:
        async with readpool.read_session(self.sessions) as session:
            row = (await session.execute(
                select(StsSession, Account, AccessKey)
                .join(Account, Account.account_id == StsSession.account_id)
                .outerjoin(AccessKey, AccessKey.access_key_id == StsSession.parent_key_id)
                .where(StsSession.access_key_id == access_key_id)
            )).first()
        if row is None:
            return None
        sts, account, parent = row
        if sts.parent_key_id is not None and (parent is None or not parent.active):
            return None  # derived from a deleted or deactivated access key
        attributes = json.loads(sts.attributes_json or "{}")
        attributes.setdefault("account_admin", False)
        attributes.setdefault("cloud_admin", False)
        attributes.update({"account_name": account.name, "session_policy": sts.session_policy,
                           "parent_key_id": sts.parent_key_id})
        return Credential(
            access_key_id=sts.access_key_id,
            secret_access_key=self.secrets.open(sts.secret_sealed),
            account_id=account.account_id,
            principal_arn=sts.principal_arn,
            user_id=sts.user_id,
            principal_type=sts.principal_type,  # type: ignore[arg-type]
            session_token=self.secrets.open(sts.token_sealed),
            expires_at=sts.expires_at,
            active=True,
            attributes=attributes,
        )
