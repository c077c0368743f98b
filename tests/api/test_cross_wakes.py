"""A wake crosses workers: RunInstances answered by any worker of an embedded SQLite
cloud is carried out at once by the controller worker (the unix socket of
``cloudctl.core.wakes``), not at its next periodic resync (10 s by default).

A node registered by ``cloudctl node register``, a process outside the cloud, is
contacted by the node monitor at once too (the CLI sends its wake on the same socket).

The multi-host case (PostgreSQL NOTIFY from an API host to the controllers host) is
``tests/api/test_multihost.py::test_api_host_wakes_reach_the_controllers_host``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cloudctl.pki import CertPaths
from tests.api.test_compute_force_detach import FakeAgent
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


def offered(cloud: LiveCloud, zone: str) -> int:
    """How many t1.micro the zone's healthy nodes hold (DescribeInstanceTypes verbose)."""
    found = cloud.client("ec2").describe_instance_types(
        InstanceTypes=["t1.micro", "verbose"])["InstanceTypes"][0]["Availability"]
    return sum(int(z["Max"]) for z in found if z["ZoneName"] == zone)


def test_a_node_registered_by_the_cli_is_contacted_at_once(two_workers: LiveCloud,
                                                           tmp_path: Path) -> None:
    """Registered twice in a row (deregistered between): without the wake the monitor's
    resync would find it, every 10 s (7.5 s at least, on the timers' grid), so at most
    one of two registrations a few seconds apart could be seen within ``PROMPT``."""
    cloud = two_workers
    zone = str(cloud.client("ec2").describe_availability_zones()[
        "AvailabilityZones"][0]["ZoneName"])
    agent = FakeAgent(tmp_path / "agent", CertPaths(cloud.data_dir / "ca" / "ca.pem",
                                                    cloud.data_dir / "ca" / "ca.key"),
                      "woken-node")
    agent.start()
    before = offered(cloud, zone)
    try:
        for _ in range(2):
            cloud.cli("node", "register", "woken-node", "--zone", zone,
                      "--address", agent.address)
            registered = time.monotonic()
            while offered(cloud, zone) <= before:
                assert time.monotonic() - registered < PROMPT, "the new node not contacted"
                time.sleep(0.1)
            cloud.cli("node", "deregister", "woken-node")
            assert offered(cloud, zone) == before
    finally:
        cloud.cli("node", "deregister", "woken-node", check=False)
        agent.kill()
