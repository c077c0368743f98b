"""Concurrent launches never over-commit a node, with several API processes, on SQLite
and on PostgreSQL.

A fresh cloud with two API workers and its local (fake) node: many RunInstances race
for the room of a large instance type; the instances placed must fit the node's
cores and memory, and every launch that does not fit answers
InsufficientInstanceCapacity.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud, new_cloud


@pytest.fixture(params=["sqlite", "postgres"])
def two_workers(request: pytest.FixtureRequest) -> Iterator[LiveCloud]:
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("pg_server").create_database("cloud_placement")
    cloud = new_cloud(url)
    cloud.start(workers=2)
    try:
        yield cloud
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def _rooms(ec2: Any) -> dict[str, tuple[int, int, int]]:
    """(available, max, vCPUs) per instance type, from the Eucalyptus ``verbose``
    listing of DescribeInstanceTypes (one zone here)."""
    out = {}
    for page in ec2.get_paginator("describe_instance_types").paginate(
            InstanceTypes=["verbose"]):
        for item in page["InstanceTypes"]:
            zone = item["Availability"][0]
            out[item["InstanceType"]] = (zone["Available"], zone["Max"],
                                         item["VCpuInfo"]["DefaultVCpus"])
    return out


def test_racing_launches_fit_the_node(two_workers: LiveCloud) -> None:
    cloud = two_workers
    images = register_image_set(cloud, cloud.data_dir / "imgs")
    ec2 = cloud.client("ec2")
    rooms = _rooms(ec2)
    # the largest type of which a few fit: the race is for its last places
    name = max((n for n, (free, most, _) in rooms.items() if 1 <= free == most <= 4),
               key=lambda n: rooms[n][2])
    room = rooms[name][0]
    attempts = room + 6

    clients = [cloud.client("ec2") for _ in range(attempts)]
    start = threading.Barrier(attempts)

    def launch(index: int) -> str:
        client = clients[index]
        start.wait()  # all at once
        try:
            res = client.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                                       InstanceType=name)
        except ClientError as err:
            return str(err.response["Error"]["Code"])
        return str(res["Instances"][0]["InstanceId"])

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        outcomes = list(pool.map(launch, range(attempts)))
    launched = [o for o in outcomes if o.startswith("i-")]
    refused = [o for o in outcomes if not o.startswith("i-")]
    assert len(launched) == room, outcomes
    assert set(refused) == {"InsufficientInstanceCapacity"}, outcomes
    assert _rooms(ec2)[name][0] == 0
    ec2.terminate_instances(InstanceIds=launched)
