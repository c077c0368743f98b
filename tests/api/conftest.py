"""Fixtures of the API tests beyond the suite's own: a live cloud in VPC mode, a cloud in
an AWS region, a cloud with two API workers, a cloud for kill -9 tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.shared import SharedWorld, consecutive
from tests.support import LiveCloud, new_cloud, region_cloud, run_cloud

WEST = "us-west-2"


@pytest.fixture(scope="session")
def vpc_cloud() -> Iterator[LiveCloud]:
    """A new live cloud (SQLite) in the mode ``cloudctl up`` gives a new cloud when not
    told otherwise (VPC: accounts get a default VPC)."""
    live = new_cloud()
    live.network_mode = None  # no --network-mode: the default must be VPC
    yield from run_cloud(live)


@pytest.fixture(scope="session")
def _west_clouds() -> Iterator[SharedWorld]:
    shared = SharedWorld(lambda: run_cloud(region_cloud(WEST)))
    yield shared
    shared.close()


@pytest.fixture
def west_cloud(request: pytest.FixtureRequest, _west_clouds: SharedWorld) -> Iterator[LiveCloud]:
    """A cloud initialised in the AWS region us-west-2 (``cloudctl init --region``), zones
    us-west-2a and us-west-2b, shared by the consecutive tests taking it (tests.shared):
    the region tests and AWS's sample templates, which are written for AWS regions."""
    yield from consecutive(_west_clouds, request, "west_cloud")


def _fake_node_world(workers: int) -> Iterator[LiveCloud]:
    """A cloud on SQLite with the fake node and no demo image, of ``workers`` workers."""
    cloud = new_cloud()
    cloud.node = "fake"
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CLOUDCTL_DEMO_IMAGE", "0")  # no background registration
            cloud.start(workers=workers)
        yield cloud
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _two_worker_world() -> Iterator[LiveCloud]:
    yield from _fake_node_world(2)


@pytest.fixture(scope="session")
def _two_worker_clouds() -> Iterator[SharedWorld]:
    shared = SharedWorld(_two_worker_world)
    yield shared
    shared.close()


@pytest.fixture
def two_worker_shared(request: pytest.FixtureRequest,
                      _two_worker_clouds: SharedWorld) -> Iterator[LiveCloud]:
    """A cloud (SQLite, fake node, no demo image) with two API workers, shared by the
    consecutive tests taking it (tests.shared): what any worker answers, wakes and
    actions across workers. A test that stops its cloud makes its own."""
    yield from consecutive(_two_worker_clouds, request, "two_worker_shared")


def _crash_world() -> Iterator[LiveCloud]:
    yield from _fake_node_world(1)


@pytest.fixture(scope="session")
def _crash_clouds() -> Iterator[SharedWorld]:
    shared = SharedWorld(_crash_world)
    yield shared
    shared.close()


@pytest.fixture
def crash_shared(request: pytest.FixtureRequest, _crash_clouds: SharedWorld) -> Iterator[LiveCloud]:
    """A cloud (SQLite, one process, fake node, no demo image) for kill -9 tests and
    tests that count the node's instances (metadata, instance network), shared by the
    consecutive tests taking it (tests.shared): a kill -9 test kills it with SIGKILL and
    starts it again on its data directory, as with a cloud of its own; each leaves no
    instance, group, alarm or property of its own behind (the next test counts the
    node's instances)."""
    yield from consecutive(_crash_clouds, request, "crash_shared")
