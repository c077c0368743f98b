"""Worlds shared by consecutive tests: a real-guest cloud, a two-host cloud, a cloud in
an AWS region take seconds to build (a cloud start 2-4 s, two hosts ~17 s), and the
tests taking one run one after another (``run_together``, from the collection hook in
tests/conftest.py) on the same world.

A test on a shared world removes what it made and resets the properties it set, and
relies on no count another test sharing the world could change. The world is closed
(its fixture generator's cleanup and checks run) after the last test taking it, or
after a failed test: the next one gets a new world, never one a failure left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

# the function fixtures over a SharedWorld (``consecutive``): their tests run together
SHARED_FIXTURES = ("two_host_cloud", "libvirt_cloud", "west_cloud", "two_worker_shared",
                   "crash_shared")


class SharedWorld:
    """A world (a fixture generator's yield) kept open across consecutive tests that use
    it, closed by ``close`` (the generator's cleanup and checks run then)."""

    def __init__(self, make: Callable[[], Iterator[Any]]) -> None:
        self._make = make
        self._gen: Iterator[Any] | None = None
        self._world: Any = None

    def open(self) -> Any:
        if self._gen is None:
            gen = self._make()
            self._world = next(gen)  # a failed build cleans up in its own finally
            self._gen = gen
        return self._world

    def close(self) -> None:
        gen, self._gen, self._world = self._gen, None, None
        if gen is not None:
            for _ in gen:
                raise AssertionError("the world's generator yielded twice")


def _next_uses(item: pytest.Item, fixture: str) -> bool:
    """Whether the test run after ``item`` takes ``fixture``."""
    items = item.session.items
    index = items.index(item) if item in items else len(items)
    following = items[index + 1] if index + 1 < len(items) else None
    return following is not None and fixture in getattr(following, "fixturenames", ())


def consecutive(shared: SharedWorld, request: pytest.FixtureRequest,
                fixture: str) -> Iterator[Any]:
    """A function fixture's body over ``shared``: opened for the test, closed after it
    when the next test does not take ``fixture`` or this one failed."""
    world = shared.open()
    failed = request.session.testsfailed
    yield world
    if request.session.testsfailed > failed or not _next_uses(request.node, fixture):
        shared.close()


def run_together(items: list[pytest.Item], fixture: str) -> None:
    """The tests taking ``fixture`` one after another, where the first of them was (the
    rest keep their order): a world shared by consecutive tests is built once."""
    users = [item for item in items if fixture in getattr(item, "fixturenames", ())]
    if len(users) > 1:
        first = items.index(users[0])
        rest = [item for item in items if fixture not in getattr(item, "fixturenames", ())]
        items[:] = rest[:first] + users + rest[first:]
