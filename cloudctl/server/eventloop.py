"""The event loop an API process runs on: uvloop (libuv's loop, in C) or asyncio's own.

uvloop is the default (``cloudctl up --event-loop``, ``CLOUDCTL_EVENT_LOOP``): the loop's
own passes cost less a request (~9 % of a JSON PutMetricData call, session 15's A/B).
asyncio's selector loop stays one option away. A process asked for uvloop that cannot
import it stops with a message (:class:`MissingLoop`): no silent fallback, so a cloud
never runs on another loop than the one it was asked for.

The code that relies on the loop's order holds on both: the credential epoch's turn
rule (``services.iam.credentials``: a callback queued during a turn runs before the
callbacks of the I/O the next poll brings; libuv runs the ready queue in its idle
phase, a snapshot at a time, and the poll after it) is tested on both loops
(``tests/unit/test_credential_epoch.py``).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from cloudctl.config import EVENT_LOOP_ENV as ENV
from cloudctl.config import EVENT_LOOPS as KINDS

T = TypeVar("T")

UVLOOP, ASYNCIO = KINDS

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class MissingLoop(RuntimeError):
    """The loop asked for cannot be made here (uvloop not installed)."""


def check_kind(kind: str) -> str:
    """``kind`` if it names a loop, else ``ValueError`` saying which ones do."""
    if kind not in KINDS:
        raise ValueError(f"unknown event loop {kind!r} (expected one of: {', '.join(KINDS)})")
    return kind


def loop_factory(kind: str) -> LoopFactory | None:
    """What makes a new loop of ``kind``; None for asyncio's own (its default policy).
    uvloop not importable: :class:`MissingLoop`."""
    if check_kind(kind) == ASYNCIO:
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        raise MissingLoop(f"the event loop {UVLOOP!r} was asked for but uvloop cannot be "
                          f"imported ({exc}): install it (pip install 'uvloop>=0.19') or "
                          f"run on asyncio's loop (--event-loop {ASYNCIO}, "
                          f"{ENV}={ASYNCIO})") from exc
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def run(main: Callable[[], Coroutine[Any, Any, T]], kind: str) -> T:
    """``asyncio.run(main())`` on a new loop of ``kind`` (then the async generators' and
    the default executor's shutdown, as ``asyncio.run``). The loop is made before
    ``main`` is called: a missing uvloop leaves no coroutine unawaited."""
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main())


def kind_of(loop: asyncio.AbstractEventLoop) -> str:
    """Which loop ``loop`` is (the worker's start-up line says it)."""
    return UVLOOP if type(loop).__module__.startswith("uvloop") else ASYNCIO
