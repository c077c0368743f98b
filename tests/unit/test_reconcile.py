"""The reconcile base (``cloudctl.core.reconcile``): queue, outcomes, backoff, leadership.

A scripted controller records what it was asked to sync; each test states the keys
the desired state lists and what a sync answers, and checks the actions taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import pytest

from cloudctl.core.fencing import Fenced, Term
from cloudctl.core.reconcile import Reconciler, Retry


class Scripted(Reconciler):
    """Syncs answer from ``outcomes[key]`` (a list consumed in order; empty = done)."""

    name = "scripted"
    base_backoff = 0.01
    max_backoff = 0.04

    def __init__(self, keys: list[str], leader: Callable[[], bool] = lambda: True) -> None:
        super().__init__(leader=leader)
        self.keys = keys
        self.outcomes: dict[str, list[Exception | None]] = {}
        self.synced: list[str] = []
        self.failed: list[tuple[str, int]] = []
        self.gate: asyncio.Event | None = None

    async def list_keys(self) -> Iterable[str]:
        return list(self.keys)

    def interval(self) -> float:
        return 0.05

    async def sync(self, key: str) -> None:
        self.synced.append(key)
        if self.gate is not None:
            await self.gate.wait()
        script = self.outcomes.get(key) or []
        outcome = script.pop(0) if script else None
        if outcome is not None:
            raise outcome

    async def on_failure(self, key: str, count: int, exc: Exception) -> None:
        self.failed.append((key, count))


async def test_resync_syncs_every_listed_key_once() -> None:
    ctl = Scripted(["vol-1", "snap-2"])
    await ctl.run_once()
    assert ctl.synced == ["vol-1", "snap-2"]
    await ctl.run_once()
    assert ctl.synced == ["vol-1", "snap-2", "vol-1", "snap-2"]


async def test_retry_waits_and_resync_does_not_requeue_it() -> None:
    ctl = Scripted(["vol-1"])
    ctl.outcomes["vol-1"] = [Retry(0.05)]
    await ctl.run_once()
    assert ctl.waiting("vol-1") and ctl.failures("vol-1") == 0  # a wait, not a failure
    await ctl.run_once()  # the resync leaves a waiting key to its timer
    assert ctl.synced == ["vol-1"]
    await asyncio.sleep(0.08)  # the timer queued it again
    await ctl.drain()
    assert ctl.synced == ["vol-1", "vol-1"] and not ctl.waiting("vol-1")


async def test_wake_overrides_a_wait() -> None:
    ctl = Scripted(["vol-1"])
    ctl.outcomes["vol-1"] = [Retry(60)]
    await ctl.run_once()
    ctl.wake("vol-1")
    await ctl.drain()
    assert ctl.synced == ["vol-1", "vol-1"] and not ctl.waiting("vol-1")


async def test_failures_back_off_exponentially_capped_and_reset_on_success() -> None:
    ctl = Scripted(["vol-1"])
    ctl.outcomes["vol-1"] = [RuntimeError("node down")] * 4
    delays = []
    loop = asyncio.get_running_loop()
    for _ in range(4):
        ctl.wake("vol-1")
        await ctl.drain()
        timer = ctl._timers["vol-1"]
        delays.append(round(timer.when() - loop.time(), 2))
    assert delays == [0.01, 0.02, 0.04, 0.04]  # base * 2**(n-1), capped at max_backoff
    assert ctl.failed == [("vol-1", 1), ("vol-1", 2), ("vol-1", 3), ("vol-1", 4)]
    ctl.wake("vol-1")
    await ctl.drain()  # the script is exhausted: success
    assert ctl.failures("vol-1") == 0 and not ctl.waiting("vol-1")


async def test_a_wake_during_a_sync_runs_it_once_more_after() -> None:
    ctl = Scripted([])
    ctl.gate = asyncio.Event()
    ctl.wake("vol-1")
    runner = asyncio.create_task(ctl.drain())
    await asyncio.sleep(0)
    assert ctl.synced == ["vol-1"]
    ctl.wake("vol-1")
    ctl.wake("vol-1")  # several wakes while running: one more sync, never two at once
    ctl.gate.set()
    await runner
    await ctl.drain()
    assert ctl.synced == ["vol-1", "vol-1"]


async def test_run_resyncs_at_start_and_on_the_timer() -> None:
    ctl = Scripted(["vol-1"])
    task = asyncio.create_task(ctl.run())
    await asyncio.sleep(0.18)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ctl.resyncs >= 3 and ctl.synced.count("vol-1") >= 3


async def test_a_resync_asked_for_runs_before_a_long_interval_ends() -> None:
    class Slow(Scripted):
        def interval(self) -> float:
            return 60.0

    ctl = Slow(["vol-1"])
    task = asyncio.create_task(ctl.run())
    await asyncio.sleep(0.05)
    assert ctl.resyncs == 1
    ctl.resync_now()
    await asyncio.sleep(0.05)
    ctl.resync_now()
    await asyncio.sleep(0.05)
    assert ctl.resyncs == 3 and ctl.synced.count("vol-1") == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the interval's timer went with the run: nothing of it is left on the loop
    scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
    assert not [h for h in scheduled if not h.cancelled()
                and getattr(h._callback, "__self__", None) is ctl._resync]


async def test_an_idle_controller_resyncs_on_its_idle_interval_until_woken() -> None:
    class Idle(Scripted):
        idle_interval = 60.0

    ctl = Idle([])
    task = asyncio.create_task(ctl.run())
    await asyncio.sleep(0.2)  # four intervals of 0.05: nothing listed, nothing waiting
    assert ctl.resyncs == 1 and ctl.next_interval() == 60.0
    ctl.keys.append("bucket-1")  # a row the API wrote, then woke one key of
    ctl.wake("bucket-1")
    await asyncio.sleep(0.02)
    assert ctl.resyncs == 2 and "bucket-1" in ctl.synced  # the wake ended the idle wait
    assert ctl.next_interval() == 0.05  # something listed: the usual interval again
    await asyncio.sleep(0.12)
    assert ctl.resyncs >= 4
    ctl.keys.clear()
    await asyncio.sleep(0.12)  # a resync listed nothing again: idle
    settled = ctl.resyncs
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ctl.resyncs == settled


async def test_a_standby_is_never_idle() -> None:
    class Idle(Scripted):
        idle_interval = 60.0

    leader = False
    ctl = Idle([], leader=lambda: leader)
    task = asyncio.create_task(ctl.run())
    await asyncio.sleep(0.08)
    assert ctl.next_interval() == 0.05 and ctl.resyncs == 0  # looks for its term
    leader = True  # elected, its callback missed: the next interval finds the term
    await asyncio.sleep(0.08)
    assert ctl.resyncs >= 1
    await asyncio.sleep(0.1)
    settled = ctl.resyncs  # leading with nothing to do: idle now
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ctl.resyncs == settled and ctl.next_interval() == 60.0


async def test_has_work_while_something_is_listed_queued_or_waiting() -> None:
    ctl = Scripted([])
    await ctl.run_once()
    assert not ctl.has_work()
    ctl.keys.append("vol-1")
    ctl.outcomes["vol-1"] = [Retry(60.0)]
    await ctl.run_once()
    assert ctl.has_work() and ctl.waiting("vol-1")
    ctl.keys.clear()
    await ctl.resync()
    assert ctl.has_work()  # listed nothing, but vol-1 waits on its timer
    ctl.wake("vol-1")
    await ctl.drain()
    assert not ctl.has_work()


async def test_a_controller_without_idle_interval_keeps_its_interval() -> None:
    ctl = Scripted([])
    await ctl.run_once()
    assert ctl.next_interval() == 0.05


async def test_a_non_leader_neither_resyncs_nor_acts_on_wakes() -> None:
    leader = False
    ctl = Scripted(["vol-1"], leader=lambda: leader)
    task = asyncio.create_task(ctl.run())
    ctl.wake("vol-2")
    await asyncio.sleep(0.08)
    assert ctl.synced == [] and ctl.resyncs == 0
    leader = True  # elected: the next interval resyncs
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "vol-1" in ctl.synced and "vol-2" not in ctl.synced


async def test_a_failing_resync_is_tried_again_at_once() -> None:
    class Flaky(Scripted):
        def __init__(self) -> None:
            super().__init__(["vol-1"])
            self.listings = 0

        async def list_keys(self) -> list[str]:
            self.listings += 1
            if self.listings == 1:
                raise ConnectionError("connection died while in use")
            return list(self.keys)

    ctl = Flaky()
    await ctl._resync_once_more_on_failure()
    assert ctl.listings == 2
    await ctl.drain()
    assert ctl.synced == ["vol-1"]


async def test_a_cancellation_turned_into_another_error_still_stops_the_controller() -> None:
    """A library that answers a cancellation with another exception (the SQLite write gate
    once raised ValueError) must not leave the controller running: a stop awaits it."""

    class Converting(Scripted):
        def __init__(self) -> None:
            super().__init__([])
            self.entered = asyncio.Event()
            self.listed = 0

        async def list_keys(self) -> Iterable[str]:
            self.listed += 1
            if self.listed == 1:
                self.entered.set()
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    raise ValueError("not in deque") from None
            return []

        def interval(self) -> float:
            return 3600.0

    ctl = Converting()
    task = asyncio.create_task(ctl.run())
    await asyncio.wait_for(ctl.entered.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done and task.cancelled()
    assert ctl.listed == 1  # no second resync after the cancellation


class OneKind:
    """An election in which this process leads ``kind`` only (another host leads the
    rest), recording the candidacies and their callbacks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.campaigns: list[str] = []
        self.fenced_kinds: list[str] = []

    def campaign(self, kind: str, on_change: Callable[[], None]) -> None:
        del on_change
        self.campaigns.append(kind)

    def leads(self, kind: str) -> Term | None:
        return Term(kind, 7, "h1") if kind == self.kind else None

    def fenced(self, kind: str, term: Term) -> None:
        del term
        self.fenced_kinds.append(kind)

    def set_enabled(self, enabled: bool) -> None:
        del enabled

    def leading(self) -> list[Term]:
        return [Term(self.kind, 7, "h1")]

    def candidacies(self) -> list[str]:
        return sorted(set(self.campaigns))

    def status(self) -> str:
        return ""

    async def stop(self) -> None:
        return None


async def test_the_node_monitor_is_led_and_fenced_with_the_compute_controller() -> None:
    """The compute controller acts on the node monitor's observations, which live in its
    process: the monitor stands in the compute controller's election (no kind of its
    own that another host could win), so the host leading compute observes the nodes."""
    from cloudctl.core import election
    from cloudctl.services.ec2.compute.controller import ComputeController
    from cloudctl.services.ec2.compute.node_monitor import NodeMonitor
    from cloudctl.services.ec2.vpc.hotplug import NicHotplug

    assert NodeMonitor.kind == NicHotplug.kind == ComputeController.name
    one = OneKind(ComputeController.name)
    election.install(one)
    try:
        class Monitor(Scripted):
            name, kind = NodeMonitor.name, NodeMonitor.kind

        monitor = Monitor(["node1"], leader=lambda: True)
        assert monitor.term() == Term(ComputeController.name, 7, "h1")
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(0.03)
        monitor.outcomes["node1"] = [Fenced(Term(ComputeController.name, 7, "h1"))]
        monitor.wake("node1")
        await asyncio.sleep(0.03)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert one.campaigns == [ComputeController.name]
        assert "node1" in monitor.synced
        assert one.fenced_kinds == [ComputeController.name]
    finally:
        election.install(election.LocalElection())
