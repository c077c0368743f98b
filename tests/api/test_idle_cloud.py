"""An idle cloud costs (nearly) no CPU: its controllers wait for wakes or long timers.

A cloud nobody calls used 11-16 ms of CPU a second (SQLite, fake node driver, EDGE, one
worker): the topology publisher and the network controller resynced 4-5 times a second
with nothing to publish or apply, the service registry looked for leadership changes 5
times a second, the property poll and the heartbeat each opened ORM sessions, and the
NAT, CloudFormation and S3 replication controllers read their tables every 2 s with no
row to act on. Now it uses 3-7 ms a second (3.3-6.7 in the bench's runs at load 2-6;
main 9-22 there); the budget (8 ms/s) sits between the two so that a loaded 2-core
machine does not make the test flaky.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.support import LiveCloud, new_cloud

BUDGET_MS_PER_S = 8.0
SETTLE_S = 4.0  # the first resyncs and start-up work, not measured
MEASURE_S = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU of ``root`` and its descendants (``/proc``)."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = int(fields[11]) + int(fields[12])
    tree, index = [root], 0
    while index < len(tree):
        tree += [pid for pid, parent in parents.items() if parent == tree[index]]
        index += 1
    return sum(times.get(pid, 0) for pid in tree) / CLK_TCK


@pytest.fixture()
def idle_cloud() -> Iterator[LiveCloud]:
    """A cloud of its own: the shared one carries other tests' buckets and stacks."""
    cloud = new_cloud()
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def test_idle_cloud_uses_almost_no_cpu(idle_cloud: LiveCloud) -> None:
    assert idle_cloud.process is not None
    iam = idle_cloud.client("iam")
    iam.create_user(UserName="idle-check")  # serving, and the API's first work done
    time.sleep(SETTLE_S)
    pid = idle_cloud.process.pid
    cpu0, wall0 = _tree_cpu_seconds(pid), time.monotonic()
    time.sleep(MEASURE_S)
    used = (_tree_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 1000
    print(f"idle cloud: {used:.1f} ms of CPU a second (budget {BUDGET_MS_PER_S})")
    assert used < BUDGET_MS_PER_S, f"an idle cloud used {used:.1f} ms of CPU a second"
    # still answering at once: nothing went to sleep that a call needs
    assert iam.get_user(UserName="idle-check")["User"]["UserName"] == "idle-check"
