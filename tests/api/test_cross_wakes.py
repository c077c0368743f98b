"""A wake crosses workers: RunInstances answered by any worker of an embedded SQLite
cloud is carried out at once by the controller worker (the unix socket of
``cloudctl.core.wakes``), not at its next periodic resync (10 s by default).

The multi-host case (PostgreSQL NOTIFY from an API host to the controllers host) is
``tests/api/test_multihost.py::test_api_host_wakes_reach_the_controllers_host``.
"""

from __future__ import annotations

import time

import pytest

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud

LAUNCHES = 6  # each on a new connection: some reach the worker that runs no controller
PROMPT = 2.5  # seconds to running: far less than the default resync (10 s)


@pytest.fixture
def two_workers(two_worker_shared: LiveCloud) -> LiveCloud:
    """The shared cloud with two API workers (tests/api/conftest.py)."""
    return two_worker_shared


def launch_and_time(cloud: LiveCloud, image_id: str) -> tuple[str, float]:
    """RunInstances on a new client (a new connection), then seconds until running."""
    ec2 = cloud.client("ec2")
    started = time.monotonic()
    iid = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                            InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    while True:
        found = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        if found["State"]["Name"] == "running":
            return iid, time.monotonic() - started
        assert time.monotonic() - started < 30, found["State"]
        time.sleep(0.1)


def test_a_launch_on_any_worker_runs_at_once(two_workers: LiveCloud) -> None:
    cloud = two_workers
    images = register_image_set(cloud, cloud.data_dir / "imgs")
    waits = dict(launch_and_time(cloud, images["emi"]) for _ in range(LAUNCHES))
    assert max(waits.values()) < PROMPT, waits
