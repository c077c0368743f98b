"""A multi-host cloud on one PostgreSQL database: ``cloudctl init --join``, the ``api``
and ``controllers`` roles of ``cloudctl up``, and ``cloudctl entrypoint`` (haproxy)
in front of two API hosts; boto3 through the entry point, kill -9 of hosts."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.config import Config

from cloudctl import pki
from cloudctl.cli.cluster import cloud_id
from tests.api.test_compute_instances import register_image_set
from tests.infra.postgres import PostgresServer
from tests.multihost import Host, MultiHost, cloudctl
from tests.support import LiveCloud

CONTROLLER_TASKS = ("compute-controller", "network-controller", "ebs-reconciler")
PROMPT = 2.5  # seconds to running: far less than the default resync (10 s)
RETRYING = Config(retries={"max_attempts": 8, "mode": "standard"})


class Cluster:
    def __init__(self, hosts: MultiHost, ctl: Host, api: list[Host], entry: Host,
                 view: LiveCloud) -> None:
        self.hosts, self.ctl, self.api, self.entry, self.view = hosts, ctl, api, entry, view


@pytest.fixture(scope="module")
def cluster(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    hosts = MultiHost(tmp_path_factory.mktemp("multihost"),
                      pg_server.create_database("multihost"))
    try:
        hosts.init_first("a")
        exported = hosts.export("a")
        with ThreadPoolExecutor(2) as pool:  # two hosts join at once
            list(pool.map(hosts.join, ("b", "c")))
        ctl = hosts.controllers("a")
        api = [hosts.api("b", "127.0.0.2"), hosts.api("c", "127.0.0.3")]
        for host in (ctl, *api):
            host.spawn()
        for host in (ctl, *api):
            host.wait_ready()
        entry = hosts.entry("entry", api)
        entry.start()
        view = hosts.client_cloud(entry, "b")
        view.log_path = api[0].log_path
        assert "master" not in exported.stdout + exported.stderr
        yield Cluster(hosts, ctl, api, entry, view)
    finally:
        hosts.stop_all()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_join_takes_the_keys_safely(cluster: Cluster) -> None:
    hosts = cluster.hosts
    first, second = hosts.data_dir("a"), hosts.data_dir("b")
    assert _mode(hosts.cluster_file) == 0o600
    for name in ("keys/master.key", "ca/ca.pem", "ca/ca.key", "ca/instance-identity.key",
                 "ca/services/cloudctl.key"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
        assert _mode(second / name) == 0o600, name
    joined = json.loads((second / "cluster.json").read_text())
    assert _mode(second / "cluster.json") == 0o600
    assert joined["database_url"] == hosts.database_url
    assert joined["cloud_id"] == cloud_id((first / "ca" / "ca.pem").read_bytes())

    again = hosts.join("b")  # the same cloud again: nothing to do
    assert "0 key files written" in again.stdout

    refused = hosts.join("b", "http://127.0.0.1:1/cluster.json", check=False)
    assert refused.returncode == 1 and "network channel" in refused.stderr

    loose = hosts.root / "loose.json"
    loose.write_bytes(hosts.cluster_file.read_bytes())
    os.chmod(loose, 0o644)
    refused = hosts.join("b", str(loose), check=False)
    assert refused.returncode == 1 and "chmod 600" in refused.stderr

    # a host that joined nothing does not start a role of a multi-host cloud
    alone = cloudctl(hosts.root / "alone" / "data", "up", "--role", "api", check=False)
    assert alone.returncode == 1 and "cloudctl init --join" in alone.stderr
    assert not (hosts.root / "alone" / "data" / "keys").exists()

    # a cluster file of another cloud (its own CA): refused by a host of this one
    other = json.loads(hosts.cluster_file.read_text())
    ca = pki.ensure_ca(hosts.root / "other-ca")
    other["files"]["ca/ca.pem"] = base64.b64encode(ca.cert.read_bytes()).decode()
    other["cloud_id"] = cloud_id(ca.cert.read_bytes())
    forged = hosts.root / "other.json"
    forged.write_text(json.dumps(other))
    os.chmod(forged, 0o600)
    refused = hosts.join("b", str(forged), check=False)
    assert refused.returncode == 1 and "belongs to another cloud" in refused.stderr
    assert (second / "ca" / "ca.pem").read_bytes() == (first / "ca" / "ca.pem").read_bytes()


def _instance_state(view: LiveCloud, instance_id: str) -> str:
    ec2 = view.client("ec2", config=RETRYING)
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def _wait_state(view: LiveCloud, instance_id: str, wanted: str, timeout: float = 60,
                poll: float = 0.3) -> float:
    started = time.monotonic()
    while _instance_state(view, instance_id) != wanted:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{instance_id} not {wanted} after {timeout}s")
        time.sleep(poll)
    return time.monotonic() - started


def test_api_host_wakes_reach_the_controllers_host(cluster: Cluster) -> None:
    """RunInstances accepted by an API host is carried out by the controllers host at
    once (NOTIFY), not at its next resync; a few launches on new connections, so they
    reach both API hosts through the entry point."""
    images = register_image_set(cluster.view, cluster.hosts.root / "wake-imgs")
    waits = {}
    for _ in range(4):
        ec2 = cluster.view.client("ec2", config=RETRYING)
        started = time.monotonic()
        iid = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                                InstanceType="t1.micro")["Instances"][0]["InstanceId"]
        _wait_state(cluster.view, iid, "running", timeout=30, poll=0.1)
        waits[iid] = time.monotonic() - started
    assert max(waits.values()) < PROMPT, waits


def test_roles_entry_point_and_host_failures(cluster: Cluster) -> None:
    ctl, api, view = cluster.ctl, cluster.api, cluster.view
    # the api role runs no controller; the controllers host runs them and serves no API
    for host in api:
        health = host.health()
        assert health["role"] == "api" and health["controllers"] is False
        assert not set(CONTROLLER_TASKS) & set(health["tasks"]), health["tasks"]
    health = ctl.health()
    assert health["role"] == "controllers" and health["controllers"] is True
    assert set(CONTROLLER_TASKS) <= set(health["tasks"]), health["tasks"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(ctl.endpoint + "/?Action=DescribeRegions", timeout=5)
    assert refused.value.code == 503

    # boto3 through the entry point; the requests reach both API hosts
    ec2 = view.client("ec2", config=RETRYING)
    images = register_image_set(view, cluster.hosts.root / "imgs")
    for _ in range(6):
        assert ec2.describe_regions()["Regions"]
    launched = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                                 InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    _wait_state(view, launched, "running")  # by the controllers host

    # only API hosts up: a launch is accepted and recorded, and nothing carries it out
    ctl.kill()
    waiting = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                                InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    time.sleep(3 * PROMPT)  # its wake found no listener: it waits for the controllers
    assert _instance_state(view, waiting) == "pending"
    ctl.start()
    _wait_state(view, waiting, "running")

    # kill -9 one API host: clients (botocore's retries) keep succeeding through the entry
    api[0].kill()
    for n in range(30):
        assert ec2.describe_instances(InstanceIds=[launched])["Reservations"]
        if n % 10 == 0:
            ec2.create_key_pair(KeyName=f"after-kill-{n}")
    names = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert {"after-kill-0", "after-kill-10", "after-kill-20"} <= names
    assert api[1].health()["role"] == "api"
