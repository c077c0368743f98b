"""Periodic timers on a shared grid (``cloudctl.core.ticks``): an idle process's timers
due about together end at the same instant, and each keeps its period."""

from __future__ import annotations

import asyncio

import pytest

from cloudctl.core import ticks


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.99])
def test_short_delays_are_not_moved(delay: float) -> None:
    assert ticks.deadline(delay, 1000.37) == pytest.approx(1000.37 + delay)


@pytest.mark.parametrize(("delay", "step"), [(1.0, 1.0), (2.0, 1.0), (4.9, 1.0),
                                             (5.0, 5.0), (10.0, 5.0), (60.0, 5.0)])
def test_a_deadline_ends_on_the_grid_within_half_a_step(delay: float, step: float) -> None:
    for now in (1000.0, 1000.37, 1002.6, 1004.99):
        end = ticks.deadline(delay, now)
        assert end / step == pytest.approx(round(end / step))
        assert abs(end - (now + delay)) <= step / 2 + 1e-9
        assert end >= now


def test_timers_set_apart_meet_and_keep_their_period() -> None:
    # a heartbeat (5 s) and two resyncs (10 s) set at different moments share a wake-up
    beat = ticks.deadline(5.0, 103.1)
    first = ticks.deadline(10.0, 98.2)
    second = ticks.deadline(10.0, 100.4)
    assert beat == first == second == 110.0
    # fired a little late, a timer asks for the instant it would have had on time
    assert ticks.deadline(10.0, 110.004) == 120.0
    assert ticks.deadline(1.0, 111.003) == 112.0


def test_sleep_and_call_later_end_on_the_grid() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        fired = loop.create_future()
        ticks.call_later(1.0, lambda: fired.set_result(loop.time()))
        await ticks.sleep(1.0)
        slept = loop.time()
        return slept, await fired

    slept, fired = asyncio.run(main())
    for when in (slept, fired):  # on a whole second, give or take the timer's lateness
        assert when - round(when) == pytest.approx(0.0, abs=0.3)
