"""Probes of what a coroutine costs its event loop, for the database-path unit tests.

``at_once``: the value of a coroutine that must finish without suspending (no loop
pass). ``spinner``: a task that counts the loop passes it gets, to count those another
piece of work took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any


def at_once(coro: Coroutine[Any, Any, Any]) -> Any:
    """The value of ``coro`` if it finishes without suspending; fails if it suspends."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the read suspended: it would wait a loop pass")


@asynccontextmanager
async def spinner() -> AsyncIterator[Callable[[], int]]:
    """A task that counts the loop passes it gets; yields the count so far."""
    passes, done = 0, False

    async def spin() -> None:
        nonlocal passes
        while not done:
            await asyncio.sleep(0)
            passes += 1

    spinning = asyncio.create_task(spin())
    await asyncio.sleep(0)
    try:
        yield lambda: passes
    finally:
        done = True
        await spinning
