"""The scheduler's placement rules and speed (pure functions, no server)."""

from __future__ import annotations

import time

import pytest

from cloudctl.errors import AwsError
from cloudctl.services.ec2.scheduler import NodeCapacity, RoundRobinState, choose_zone, place


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
