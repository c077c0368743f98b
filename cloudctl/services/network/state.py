"""The network view version: bumped in the transaction of every relevant change.

Every change that alters what the data plane must look like (a rule, a
membership, an address, a NIC, the configuration) calls `bump_version` in
its own transaction, and `notify()` after commit to wake the controller of
this process at once; controllers in other processes notice the new version
by polling it (a one-row read).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.services.network.models import NetworkStateRow

_wakers: list[Callable[[], None]] = []


async def bump_version(session: AsyncSession) -> None:
    """Increment the view version inside the caller's transaction."""
    result = await session.execute(
        update(NetworkStateRow).where(NetworkStateRow.id == 1)
        .values(version=NetworkStateRow.version + 1))
    if getattr(result, "rowcount", 1) == 0:
        session.add(NetworkStateRow(id=1, version=1))
        await session.flush()


async def current_version(session: AsyncSession) -> int:
    value = (await session.execute(
        select(NetworkStateRow.version).where(NetworkStateRow.id == 1))).scalar()
    return int(value or 0)


def add_waker(fn: Callable[[], None]) -> None:
    _wakers.append(fn)


def remove_waker(fn: Callable[[], None]) -> None:
    if fn in _wakers:
        _wakers.remove(fn)


def notify() -> None:
    """Wake this process's network controller (call after the commit)."""
    for fn in list(_wakers):
        fn()
