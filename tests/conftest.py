"""Session fixtures: a live cloud on SQLite and on PostgreSQL, started by the suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from tests.infra import postgres
from tests.shared import SHARED_FIXTURES, SharedWorld, consecutive, run_together
from tests.support import LiveCloud, new_cloud, run_cloud

# Under scripts/test.sh (CLOUDCTL_NO_SKIPS=1) every component is installed, so a skip
# means a missing component, not an optional test: it fails the run instead.
NO_SKIPS = os.environ.get("CLOUDCTL_NO_SKIPS") == "1"

pytest_plugins = ["tests.timing", "tests.processes"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped while CLOUDCTL_NO_SKIPS=1: {report.longrepr}"
    if report.failed and call.when == "call":
        for title, text in _diagnostics(item):
            report.sections.append((title, text))


def _fixture_values(item: pytest.Item) -> Iterator[Any]:
    for value in getattr(item, "funcargs", {}).values():
        yield value
        if isinstance(value, tuple | list):
            yield from value


def _tail(path: Any, lines: int) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"


def _diagnostics(item: pytest.Item) -> list[tuple[str, str]]:
    """Log tails of the live clouds and Ceph daemons a failed test used: a failure in
    CI (fresh clone, data directories gone afterwards) must explain itself."""
    from tests.infra.ceph import CephCluster

    found: list[tuple[str, str]] = []
    for value in _fixture_values(item):
        if isinstance(value, LiveCloud) and value.log_path.name:
            found.append((f"cloud log tail {value.log_path}", _tail(value.log_path, 120)))
        elif isinstance(value, CephCluster):
            for name in ("osd.0", "mon.a"):
                path = value.root / "log" / f"{name}.log"
                found.append((f"ceph {name} log tail", _tail(path, 40)))
        elif type(value).__name__ == "SecondHost":  # tests.infra.second_host
            for name in ("node.log", "vpc.log"):
                found.append((f"second host {name} tail", _tail(value.root / name, 60)))
        elif type(value).__name__ == "ZooKeeperServer":
            found.append(("zookeeper log tail", _tail(value.root / "zookeeper.log", 40)))
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped while CLOUDCTL_NO_SKIPS=1: {report.longrepr}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PostgresServer]:
    server = postgres.start_postgres()
    yield server
    server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked ``both_databases`` run on SQLite and PostgreSQL, the rest on SQLite.

    The marked modules cover every service's core API against both databases; the
    client-heavy flows (AWS CLI, s3cmd) and the long error matrices run once. A test of
    a marked module marked ``sqlite_only(reason)`` runs once too (on the module's SQLite
    cloud): what it proves does not depend on the database (see the marker).
    """
    if "cloud" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_databases") is not None
        if metafunc.definition.get_closest_marker("sqlite_only") is not None:
            both = False
        params = ["sqlite", "postgres"] if both else ["sqlite"]
        metafunc.parametrize("cloud", params, indirect=True, scope="session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: run the module's API tests on SQLite and on PostgreSQL")
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test of a both_databases module that runs on "
                   "SQLite only: the reason says why nothing it proves depends on the "
                   "database (a client's wire flow, validation before any SQL, a controller "
                   "workflow whose SQL other tests of the module run on both)")
    config.addinivalue_line(
        "markers", "late: run after every other test of the session (a test that checks "
                   "what a clock started by a session fixture of its module did by then)")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests taking a world shared by consecutive tests (``tests.shared.SHARED_FIXTURES``)
    run one after another; tests
    marked ``late`` go last, in their order (after pytest grouped the items by their
    session parameters). A test that waits for a cloud clock (a stack's
    TimeoutInMinutes: one minute) started by its module's session fixture then finds
    the time already passed while the rest of the run went on, instead of sleeping it
    out; run alone, it waits as before."""
    for fixture in SHARED_FIXTURES:
        run_together(items, fixture)
    late = [item for item in items if item.get_closest_marker("late") is not None]
    if late:
        items[:] = [item for item in items if item.get_closest_marker("late") is None] + late


@pytest.fixture(scope="session")
def cloud(request: pytest.FixtureRequest) -> Iterator[LiveCloud]:
    """The live cloud API tests talk to, on the database the test is parametrized with."""
    url = None
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        url = server.create_database("cloud_api")
    yield from run_cloud(new_cloud(url))


@pytest.fixture(scope="session")
def sqlite_cloud() -> Iterator[LiveCloud]:
    """A live cloud on SQLite only, for tests that need not run twice."""
    yield from run_cloud(new_cloud())


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[object]:
    """A real ZooKeeper server on a loopback port (netd.zookeeper's starter)."""
    from tests.infra.zookeeper import zookeeper_session

    yield from zookeeper_session()


@pytest.fixture(scope="session")
def ceph_cluster() -> Iterator[object]:
    """A single-node Ceph (mon + memstore OSD) for the RBD and RADOS backends."""
    from tests.infra.ceph import ceph_session

    yield from ceph_session()


@pytest.fixture(scope="session")
def cassandra_server() -> Iterator[object]:
    """A private Apache Cassandra (CloudWatch's Cassandra metric store)."""
    from tests.infra.cassandra import start_cassandra

    server = start_cassandra()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A libvirtd of our own, in private mount and network namespaces."""
    from nodectl.libvirtd import PrivateLibvirtd

    daemon = PrivateLibvirtd(tmp_path_factory.mktemp("libvirtd"))
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def _two_hosts(private_libvirtd: Any, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[SharedWorld]:
    from tests.infra.second_host import two_host_cloud as build

    shared = SharedWorld(lambda: build(private_libvirtd, tmp_path_factory.mktemp("second")))
    yield shared
    shared.close()  # before the private libvirtd stops


@pytest.fixture
def two_host_cloud(_two_hosts: SharedWorld, request: pytest.FixtureRequest
                   ) -> Iterator[tuple[LiveCloud, Any]]:
    """A VPC cloud with two zones and real guests on two hypervisor hosts: the
    all-in-one node on the session's private libvirtd (first zone) and a second host
    added as an operator would (``tests.infra.second_host``: its own libvirtd and
    namespaces, ``nodectl agent``, its VPC host agent, VXLAN between the two).

    Building it takes ~17 s, so consecutive tests share one (``pytest_collection_
    modifyitems`` runs the tests taking it one after another): each test removes what
    it made (its guests, groups, stacks) and resets the properties it set; the world is
    stopped, and checked to leave nothing on either host, after the last of them, or
    after a failed test (the next one gets a new world)."""
    yield from consecutive(_two_hosts, request, "two_host_cloud")


def _libvirt_world(daemon: Any) -> Iterator[LiveCloud]:
    from tests.support import libvirt_env, teardown_local_network

    env = libvirt_env(daemon)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    cloud = new_cloud()  # EDGE (LiveCloud.network_mode): the EDGE real-guest tests
    try:
        cloud.start()
        yield cloud
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cloud.stop()
        _destroy_guests(daemon.uri)
        teardown_local_network(cloud, daemon.netns)
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def _libvirt_clouds(private_libvirtd: Any) -> Iterator[SharedWorld]:
    shared = SharedWorld(lambda: _libvirt_world(private_libvirtd))
    yield shared
    shared.close()  # before the private libvirtd stops


@pytest.fixture
def libvirt_cloud(_libvirt_clouds: SharedWorld, request: pytest.FixtureRequest
                  ) -> Iterator[LiveCloud]:
    """A live cloud in EDGE mode whose local node runs real QEMU guests on the private
    libvirtd (the VPC real-guest test makes its own, in the default mode).

    Consecutive tests share one (``pytest_collection_modifyitems`` runs the tests taking
    it one after another): each terminates its guests and resets the properties it set.
    After the last of them, or after a failed test (the next one gets a new cloud), the
    cloud stops, its guests are destroyed and its network (bridge, nftables, dnsmasq,
    metadata proxy in the libvirtd's namespace) is removed, so the next cloud on the
    same libvirtd starts clean.
    """
    yield from consecutive(_libvirt_clouds, request, "libvirt_cloud")


def _destroy_guests(uri: str) -> None:
    """Destroy and undefine every guest a test left on the session's private libvirtd.

    The cloud keeps guests across its own restarts (as it must), so a test that ends
    without terminating its instances would leave QEMUs running for the next module.
    """
    import libvirt

    conn = libvirt.open(uri)
    try:
        for dom in conn.listAllDomains():
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            except libvirt.libvirtError:
                pass  # already gone
    finally:
        conn.close()


@pytest.fixture(scope="session")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The project's tiny guest (cloud kernel, busybox ramdisk, ext4 root)."""
    from nodectl.guestimage import build

    return build(tmp_path_factory.mktemp("guestimage"))


@pytest.fixture
def fake_compute() -> Iterator[object]:
    """The shipped fake compute driver (libvirt's test:/// driver)."""
    from nodectl.driver.fake import FakeDriver

    driver = FakeDriver()
    yield driver
    driver.close()
