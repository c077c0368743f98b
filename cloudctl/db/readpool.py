"""Read operations' sessions take their connections from a pool of their own (PostgreSQL).

A PostgreSQL worker's pool is shared by every session it opens. Under the 64-client mix
(bench/load.py) about 28 write requests a worker are in flight at once, each holding a
pooled connection from its first statement while it waits its turn to write
(``pgwriters``: one write transaction a process at a time) and until its COMMIT: all
32 of a worker's connections were checked out the whole run, and a DescribeVolumes
waited behind the writers for one, 90 ms on average per checkout of that worker
(bench/results/load.md, session 19). SQLite's reads never queue there: its writers wait
at the write gate without keeping readers from the file.

Here the sessions opened while the request being served is a read operation
(``Describe*``, ``Get*``, ``List*``, ``Head*``: ``reading``) are bound to a second engine
of the same database (``pair``), with a pool of their own (``READ_POOL_SIZE``), so a
read never waits for a writer's connection. Nothing else differs: the same database,
isolation and statements; the two engines share their write slots and their reads'
waits on the loop (``pgwriters``, ``pgnearwait``), so an operation so named that writes
(STS GetSessionToken stores its token) writes as any other, taking its turn.

The choice is made when a session is created (``route``, from ``CloudSession``): a
session never mixes the two pools. A request's credential is loaded before its
operation is known, on the read pool whatever the operation (``read_session``).
Requests that write, controllers and everything else keep the engine they were given.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

S = TypeVar("S")

READ_POOL_SIZE = 8  # connections kept per process for read operations
READ_MAX_OVERFLOW = 4
READ_PREFIXES = ("Describe", "Get", "List", "Head")

_READING: contextvars.ContextVar[bool] = contextvars.ContextVar("cloudctl_reading",
                                                               default=False)
# an engine -> the engine its read operations' sessions use
_PARTNERS: weakref.WeakKeyDictionary[Engine, AsyncEngine] = weakref.WeakKeyDictionary()


def is_read(operation: str) -> bool:
    """Whether ``operation`` (an API operation's name) is a read."""
    return operation.startswith(READ_PREFIXES)


def reading(operation: str) -> contextvars.Token[bool] | None:
    """Mark the current task as serving ``operation`` if it is a read (its sessions then
    use the read pool); give the token to ``done`` when the operation ends."""
    return _READING.set(True) if is_read(operation) else None


def done(token: contextvars.Token[bool] | None) -> None:
    """The operation ``reading`` marked has ended."""
    if token is not None:
        _READING.reset(token)


def read_session(sessions: Callable[[], S]) -> S:
    """A session of ``sessions`` that only reads, whatever the operation: on the read
    pool (a request's credential, loaded before its operation is known: a write's
    too, so that its authentication never waits behind the writers either)."""
    token = _READING.set(True)
    try:
        return sessions()
    finally:
        _READING.reset(token)


def pair(engine: AsyncEngine, reads: AsyncEngine) -> None:
    """Sessions of ``engine`` opened for a read operation use ``reads``."""
    _PARTNERS[engine.sync_engine] = reads


def partner(engine: AsyncEngine) -> AsyncEngine | None:
    """The engine ``engine``'s read operations use (None: none paired)."""
    return _PARTNERS.get(engine.sync_engine)


def route(bind: Any) -> Any:
    """The engine a session about to be bound to ``bind`` uses: its read partner while
    a read operation is served, else ``bind`` itself."""
    if _READING.get() and isinstance(bind, AsyncEngine):
        reads = _PARTNERS.get(bind.sync_engine)
        if reads is not None:
            return reads
    return bind
