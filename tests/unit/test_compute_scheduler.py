"""The scheduler's placement rules and speed (pure functions, no server)."""

from __future__ import annotations

import time

import pytest

from cloudctl.errors import AwsError
from cloudctl.services.ec2.compute.scheduler import (
    CPU_OVERCOMMIT_RATIO,
    NodeCapacity,
    RoundRobinState,
    choose_zone,
    offered_cores,
    place,
)


def nodes(count: int, zone: str = "z1", cores: int = 4, memory: int = 4096) -> list[NodeCapacity]:
    return [NodeCapacity(f"n{i:03d}", zone, cores, memory) for i in range(count)]


def test_round_robin_spreads_and_continues_after_the_last_node() -> None:
    state = RoundRobinState()
    cluster = nodes(3)
    assert place(cluster, "z1", 1, 256, 1, 4, "ROUNDROBIN", state, "m1.small") == [
        "n000", "n001", "n002", "n000"]
    assert place(cluster, "z1", 1, 256, 1, 1, "ROUNDROBIN", state, "m1.small") == ["n001"]


def test_greedy_fills_one_node_first() -> None:
    cluster = nodes(3, cores=2)
    assert place(cluster, "z1", 1, 256, 3, 3, "GREEDY", RoundRobinState(), "m1.small") == [
        "n000", "n000", "n001"]


def test_capacity_cores_and_memory_and_min_count() -> None:
    cluster = nodes(2, cores=4, memory=1024)
    # memory bound: 2 per node
    assert len(place(cluster, "z1", 1, 512, 1, 10, "ROUNDROBIN", RoundRobinState(), "x")) == 4
    with pytest.raises(AwsError) as err:
        place(cluster, "z1", 1, 512, 1, 1, "ROUNDROBIN", RoundRobinState(), "x")
    assert err.value.code == "InsufficientInstanceCapacity"


def test_cpu_overcommit_offers_ratio_times_cores_but_not_memory() -> None:
    # the default ratio (4): a 2-core node takes 8 one-vCPU guests, the 9th does not fit
    ratio = CPU_OVERCOMMIT_RATIO.parse(CPU_OVERCOMMIT_RATIO.default)
    assert ratio >= 4
    node = NodeCapacity("n", "z1", offered_cores(2, ratio), 65536)
    assert place([node], "z1", 1, 256, 8, 8, "GREEDY", RoundRobinState(), "t1.micro") == ["n"] * 8
    with pytest.raises(AwsError) as err:
        place([node], "z1", 1, 256, 1, 1, "GREEDY", RoundRobinState(), "t1.micro")
    assert err.value.code == "InsufficientInstanceCapacity"
    # memory is not overcommitted: 1 GiB holds four 256 MiB guests whatever the ratio
    small = NodeCapacity("m", "z1", offered_cores(2, 16), 1024)
    assert small.fits(1, 256) == 4
    assert offered_cores(2, 1) == 2 and offered_cores(3, 1.5) == 4 and offered_cores(2, 0.5) == 2


def test_zone_choice_prefers_room() -> None:
    cluster = nodes(1, "a", cores=1) + nodes(2, "b", cores=4)
    assert choose_zone(cluster, ["a", "b"], 1, 256, 2, "x") == "b"
    with pytest.raises(AwsError):
        choose_zone(cluster, ["a", "b"], 1, 256, 100, "x")


def test_thousand_instances_over_fifty_nodes_is_fast() -> None:
    cluster = nodes(50, cores=32, memory=32768)
    state = RoundRobinState()
    started = time.perf_counter()
    placed = [n for _ in range(1000) for n in place(cluster, "z1", 1, 256, 1, 1, "ROUNDROBIN",
                                                     state, "m1.small")]
    elapsed = time.perf_counter() - started
    assert len(placed) == 1000 and len(set(placed)) == 50
    assert elapsed < 1.0
