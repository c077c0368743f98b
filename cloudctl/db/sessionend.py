"""Sessions end in the caller's own task when they can, without SQLAlchemy's loop passes.

SQLAlchemy ends an ``async with sessions()`` block, and a ``sessions.begin()`` block's
commit and close, in a task of its own shielded from the caller's cancellation
(``_run_to_completion``), so the end is never abandoned halfway. The price is loop
passes: the task's first step, its completion and the shield's callback each wait for
one, 3 for a read session's end and 6 for a write block's (counted with a spinning
task, ``tests/unit/test_sessionend.py``), and a pass costs 0.8 ms on a busy SQLite
worker, 2-7 ms on a PostgreSQL one (bench/results/load.md, session 17).

Here the end runs in the caller's task first, step by step (:func:`run_to_completion`):
when it completes without suspending (a read session whose connection has nothing to
end: SQLite on the loop, PostgreSQL's reads before a BEGIN; a write whose commit runs
on the loop), it is done, no pass taken. When it suspends (a COMMIT's round trip, a
write gate's turn), the rest runs in a task of its own, shielded, as SQLAlchemy's: the
caller's cancellation meanwhile is raised once the end has completed. A step that
runs synchronously cannot be cancelled, so nothing is abandoned halfway either way.

Installed through ``engine.session_factory`` (``class_=CloudSession``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.asyncio.session import _AsyncSessionContextManager

from cloudctl.db import readpool

T = TypeVar("T")


class _Continued:
    """The rest of a coroutine that already ran up to ``first`` (what it waits for)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro, self.first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting_for = self.first
        while True:
            try:
                sent = yield waiting_for
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:  # a cancellation, or the future's error
                try:
                    waiting_for = self.coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_for = self.coro.send(sent)
                except StopIteration as done:
                    return done.value


async def _rest(coro: Coroutine[Any, Any, T], first: Any) -> T:
    result: T = await _Continued(coro, first)
    return result


async def run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """``coro`` run to its end whatever happens to the caller: in the caller's task
    while it does not suspend, then (if it does) in a shielded task of its own."""
    try:
        first = coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    task = asyncio.get_running_loop().create_task(_rest(coro, first))
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as err:
            if task.done():
                raise
            cancelled = err
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result


class _Begun(_AsyncSessionContextManager[Any]):
    """``sessions.begin()``: commit (or roll back) and close, ended as above."""

    __slots__ = ()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        async def end() -> None:
            await self.trans.__aexit__(type_, value, traceback)
            await self.async_session.close()  # already run to completion here

        await run_to_completion(end())


class CloudSession(AsyncSession):
    """The cloud's async session: its ``async with`` ends as above. Opened while a read
    operation is served, it is bound to the read operations' engine (``readpool``)."""

    def __init__(self, bind: Any = None, **kwargs: Any) -> None:
        super().__init__(readpool.route(bind), **kwargs)

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await run_to_completion(self.close())

    def _maker_context_manager(self: Any) -> Any:
        return _Begun(self)
