"""An idle cloud costs (nearly) no CPU: its controllers wait for wakes or long timers,
and its periodic timers share their wake-ups.

A cloud nobody calls used 11-16 ms of CPU a second (SQLite, fake node driver, EDGE, one
worker): the topology publisher and the network controller resynced 4-5 times a second
with nothing to publish or apply, the service registry looked for leadership changes 5
times a second, the property poll and the heartbeat each opened ORM sessions, and the
NAT, CloudFormation and S3 replication controllers read their tables every 2 s with no
row to act on. That work made it 3-7 ms a second (3.3-6.7 in the bench's runs at load
2-6); the budget (8 ms/s) sits between the two so that a loaded 2-core machine does not
make the test flaky.

Session 18: the test then measured 5.0 ms/s on a quiet machine and 12-39 on others (old
code and new alike). The process (one; its loop's thread the only one that counts) woke
~20 times a second, counted per callback of its loop: the heartbeat every 2 s (1.1 ms/s),
the CloudFormation engine's 2 s resync (0.8), the node monitor's 10 s observation with
two instance-controller resyncs after it (0.8), EBS every 5 s (0.4), the access-log
recorder every second and its deliverer every 5 s (0.3), Auto Scaling, the NIC hot-plug
and eight empty alarm shards every 10 s to a minute. A wake-up of an idle process costs
several times its work, the more so on a busy or virtual machine (a resync: 0.4 ms of CPU
right after another, 1.5 ms alone): hence the spread between machines. Now the
controllers that every change wakes wait a minute while they have nothing (CloudFormation
on the embedded cloud, EBS, Auto Scaling, the hot-plug, the instance controller while its
nodes hold what they held), a cloud on SQLite beats every 5 s with statements built once,
the access log wakes for requests and records, the alarms read only due shards, and every
periodic timer ends on a grid the process shares (``cloudctl.core.ticks``): one small
wake-up a second (the property poll), a larger one every 5 and 10 s. Measured here
1.0-2.0 ms/s in ten runs at load 0.9-3.5 (the old code 4.0-5.0 in six beside them), and
1.2-1.7 over a minute (the old code 3.9-5.1). The budget stays 8.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bench.common import cpu_seconds
from cloudctl.services.empyrean.registry import STALE_SECONDS
from tests.support import LiveCloud, new_cloud, run_cloud

BUDGET_MS_PER_S = 8.0
SETTLE_S = 4.0  # the first resyncs and start-up work, not measured
MEASURE_S = 10.0


@pytest.fixture()
def idle_cloud() -> Iterator[LiveCloud]:
    """A cloud of its own: the shared one carries other tests' buckets and stacks."""
    yield from run_cloud(new_cloud())


def test_idle_cloud_uses_almost_no_cpu(idle_cloud: LiveCloud) -> None:
    assert idle_cloud.process is not None
    iam = idle_cloud.client("iam")
    iam.create_user(UserName="idle-check")  # serving, and the API's first work done
    time.sleep(SETTLE_S)
    pid = idle_cloud.process.pid
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    time.sleep(MEASURE_S)
    used = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 1000
    print(f"idle cloud: {used:.1f} ms of CPU a second (budget {BUDGET_MS_PER_S})")
    assert used < BUDGET_MS_PER_S, f"an idle cloud used {used:.1f} ms of CPU a second"
    # still answering at once: nothing went to sleep that a call needs
    assert iam.get_user(UserName="idle-check")["User"]["UserName"] == "idle-check"
    # and still beating (every 5 s on SQLite): the host is ENABLED, its heartbeat fresh
    empyrean = idle_cloud.client("empyrean", path="/services/Empyrean")
    host = next(s for s in empyrean.describe_services()["ServiceStatuses"]
                if s["ServiceId"]["Type"] == "cloud")
    assert host["LocalState"] == "ENABLED", host
    beat = datetime.fromisoformat(host["Details"][0].removeprefix("heartbeat "))
    assert (datetime.now(UTC) - beat).total_seconds() < STALE_SECONDS - 2, host
    assert "heartbeat of" not in idle_cloud.log_path.read_text(errors="replace")  # none failed
