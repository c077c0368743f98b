"""A worker runs at most ``slots`` write requests at once, admitted in arrival order.

:class:`cloudctl.server.admission.WriteAdmission` is what a PostgreSQL write request
waits on before its handler (``dispatch.handle``); reads never wait. A slot held past
its lease stops counting, so a stalled holder delays the queue by a lease at most.
"""

from __future__ import annotations

import asyncio

import pytest

from cloudctl.server.admission import WriteAdmission, is_write


async def test_runs_at_most_slots_writes_in_arrival_order() -> None:
    admission = WriteAdmission(lease=30.0)
    running: list[int] = []
    most = 0
    order: list[int] = []

    async def write(n: int) -> None:
        nonlocal most
        ticket = await admission.admit(3)
        order.append(n)
        running.append(n)
        most = max(most, len(running))
        await asyncio.sleep(0.005 * (n % 4))
        running.remove(n)
        admission.release(ticket)

    tasks = []
    for n in range(20):
        tasks.append(asyncio.create_task(write(n)))
        await asyncio.sleep(0)  # each arrives before the next
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert most == 3
    assert order == list(range(20))
    assert admission.running == 0 and admission.waiting == 0


async def test_a_slot_held_past_its_lease_stops_counting() -> None:
    admission = WriteAdmission(lease=0.2)
    stalled = await admission.admit(1)  # never released in time: a stalled upload
    loop = asyncio.get_running_loop()
    asked = loop.time()
    ticket = await asyncio.wait_for(admission.admit(1), 5)
    assert loop.time() - asked >= 0.15
    assert admission.expired == 1
    admission.release(stalled)  # late: nothing (its slot is gone already)
    assert admission.running == 1
    admission.release(ticket)
    assert admission.running == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_gives_back_its_slot() -> None:
    admission = WriteAdmission(lease=30.0)
    first = await admission.admit(1)
    gone = asyncio.create_task(admission.admit(1))
    after = asyncio.create_task(admission.admit(1))
    await asyncio.sleep(0)
    assert admission.waiting == 2
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert admission.waiting == 1
    admission.release(first)
    second = await asyncio.wait_for(after, 5)
    assert admission.running == 1

    # admitted, then cancelled before it ran: the slot is handed on, not lost
    late = asyncio.create_task(admission.admit(1))
    last = asyncio.create_task(admission.admit(1))
    await asyncio.sleep(0)
    admission.release(second)  # ``late`` is admitted...
    late.cancel()  # ...and cancelled before its task resumes
    with pytest.raises(asyncio.CancelledError):
        await late
    await asyncio.wait_for(last, 5)
    assert admission.running == 1 and admission.waiting == 0


def test_reads_are_named_as_reads() -> None:
    for read in ("GetObject", "HeadObject", "ListObjectsV2", "DescribeVolumes", "GetUser",
                 "GetCallerIdentity"):
        assert not is_write(read), read
    for write in ("PutObject", "CreateVolume", "CreateTags", "CreateUser", "DeleteObject",
                  "AssumeRole", "RunInstances"):
        assert is_write(write), write
