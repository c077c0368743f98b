"""Three cloud hosts in network namespaces on one PostgreSQL and a three-node ZooKeeper
ensemble (one server per host namespace, ``tests/three_hosts.py``).

The work is CloudFormation stacks of security groups (the stack engine is an elected
controller; its resync is set to a minute, so anything done sooner was woken): a stack
created through one host's API is carried out at once by the leader on another host;
the leader's host cut off (its link down at the switch) stops acting, the other two
elect a leader and carry on, every acknowledged stack is created exactly once, and the
healed host rejoins as a standby; with two ZooKeeper servers down no controller acts,
the API answers reads and DescribeServices says which controllers have no leader and
why, and the work resumes when the quorum returns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.three_hosts import ThreeHosts

SESSION_TIMEOUT = 4.0
KIND = "cloudformation"
RESYNC = 300  # the stack engine's resync in this world: a prompt stack was woken
PROMPT = 20.0  # seconds from CreateStack to CREATE_COMPLETE when woken (a loaded machine)
BEAT = 2.0  # the registry's heartbeat: DescribeServices shows a new leader this late
TEMPLATE = json.dumps({"Resources": {
    f"Group{i}": {"Type": "AWS::EC2::SecurityGroup",
                  "Properties": {"GroupDescription": f"three hosts group {i}"}}
    for i in range(3)}})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeHosts]:
    three = ThreeHosts(tmp_path_factory.mktemp("three-hosts"), SESSION_TIMEOUT)
    try:
        view = three.view("h1")
        three.client_call(lambda: view.client("properties", path="/services/Properties")
                          .modify_property_value(Name="cloudformation.resync_interval_sec",
                                                 Value=str(RESYNC)))
        time.sleep(4)  # every host's property poll (1 s), then its engine's 2 s waits end
        yield three
    finally:
        three.close()


def _services(world: ThreeHosts, via: str) -> dict[str, dict[str, Any]]:
    view = world.view(via)

    def call() -> dict[str, dict[str, Any]]:
        empyrean = view.client("empyrean", path="/services/Empyrean")
        return {s["ServiceId"]["Name"]: s
                for s in empyrean.describe_services()["ServiceStatuses"]}

    return world.client_call(call)


def _leader(world: ThreeHosts, via: str) -> str | None:
    """The host (h1..h3) whose KIND controller is ENABLED, as host ``via`` tells."""
    for name, status in _services(world, via).items():
        if status["ServiceId"]["Type"] == "controller" and name.endswith(f".{KIND}") \
                and status["LocalState"] == "ENABLED":
            return world.name_of(name.removesuffix(f".{KIND}"))
    return None


def _leader_among(world: ThreeHosts, via: str, hosts: list[str]) -> str | None:
    found = _leader(world, via)
    return found if found in hosts else None


def _cfn(world: ThreeHosts, via: str, method: str, **kwargs: Any) -> Any:
    view = world.view(via)
    return world.client_call(lambda: getattr(view.client("cloudformation"), method)(**kwargs))


def _status(world: ThreeHosts, via: str, stack: str) -> str:
    found = _cfn(world, via, "describe_stacks", StackName=stack)["Stacks"][0]
    assert not found["StackStatus"].endswith("FAILED"), found
    return str(found["StackStatus"])


def _done(world: ThreeHosts, via: str, *stacks: str) -> bool:
    return all(_status(world, via, s) == "CREATE_COMPLETE" for s in stacks)


def _exactly_once(world: ThreeHosts, via: str, stack: str) -> None:
    """Every group of the stack exists once and was created once."""
    resources = _cfn(world, via, "describe_stack_resources", StackName=stack)["StackResources"]
    assert sorted(r["LogicalResourceId"] for r in resources) == ["Group0", "Group1", "Group2"]
    events = _cfn(world, via, "describe_stack_events", StackName=stack)["StackEvents"]
    created = [e["LogicalResourceId"] for e in events
               if e["ResourceStatus"] == "CREATE_COMPLETE" and e["LogicalResourceId"] != stack]
    assert sorted(created) == ["Group0", "Group1", "Group2"], events
    view = world.view(via)
    groups = world.client_call(lambda: view.client("ec2").describe_security_groups(Filters=[
        {"Name": "tag:aws:cloudformation:stack-name", "Values": [stack]}])["SecurityGroups"])
    assert sorted(g["GroupId"] for g in groups) == \
        sorted(r["PhysicalResourceId"] for r in resources)


def _create_promptly(world: ThreeHosts, via: str, stack: str) -> float:
    started = time.monotonic()
    _cfn(world, via, "create_stack", StackName=stack, TemplateBody=TEMPLATE)
    world.wait(lambda: _done(world, via, stack), PROMPT + 10, f"stack {stack}", poll=0.1)
    took = time.monotonic() - started
    assert took < PROMPT, f"{stack} through {via} took {took:.1f}s (resync {RESYNC}s)"
    return took


def _log_since(world: ThreeHosts, name: str, mark: int) -> str:
    return Path(world.hosts[name].log_path).read_text(errors="replace")[mark:]


def test_partitioned_leader_host_stops_the_others_carry_on_and_it_rejoins(
        world: ThreeHosts) -> None:
    leader = world.wait(lambda: _leader(world, "h1"), 60, "a cloudformation leader")
    others = [n for n in world.hosts if n != leader]
    # the hosts started together: one demo image set for the cloud, not one a host
    view = world.view("h2")
    demo = world.wait(lambda: world.client_call(lambda: view.client("ec2").describe_images(
        Filters=[{"Name": "name", "Values": ["cloudctl-tiny-guest"]}])["Images"]), 60,
        "the demo image set")
    assert len(demo) == 1, demo
    # CreateStack through another host's API: its wake crosses to the leader's host
    for via in others:
        took = _create_promptly(world, via, f"three-wake-{via}")
        print(f"CreateStack through {via}, leader {leader}: complete in {took:.1f}s")

    old_epoch = _services(world, others[0])[f"{world.host_id(leader)}.{KIND}"]["LocalEpoch"]
    mark = world.hosts[leader].log_path.stat().st_size
    burst = [f"three-burst-{i}" for i in range(4)]
    for stack in burst:  # acknowledged by the leader's own API, then its cable is pulled
        _cfn(world, leader, "create_stack", StackName=stack, TemplateBody=TEMPLATE)
    world.partition(leader)
    cut = time.monotonic()
    try:
        new_leader = world.wait(lambda: _leader_among(world, others[0], others),
                                SESSION_TIMEOUT + 15, "the other two electing a leader")
        took = time.monotonic() - cut
        assert took <= SESSION_TIMEOUT + 5 + BEAT, f"takeover took {took:.1f}s"
        print(f"{leader} cut off: {new_leader} shown leading after {took:.1f}s")
        during = "three-during-partition"
        _cfn(world, others[1], "create_stack", StackName=during, TemplateBody=TEMPLATE)
        # the cut-off host's open transactions hold row locks until PostgreSQL ends them
        # (idle in transaction for twice the session timeout): then the work goes on
        world.wait(lambda: _done(world, others[1], *burst, during), 3 * SESSION_TIMEOUT
                   + PROMPT, "the burst and the new stack")
        statuses = _services(world, others[0])
        new_epoch = statuses[f"{world.host_id(new_leader)}.{KIND}"]["LocalEpoch"]
        assert new_epoch > old_epoch
        # the cut-off host stopped acting: its ZooKeeper connection went, so did its term
        assert f"{KIND}: standing by" in _log_since(world, leader, mark)
        world.wait(lambda: _services(world, others[0])[world.host_id(leader)]["LocalState"]
                   == "NOTREADY", 20, "the cut-off host NOTREADY")
    finally:
        world.heal(leader)

    # healed: a standby (its own heartbeat again), the leader and its epoch unchanged
    def rejoined() -> bool:
        statuses = _services(world, leader)
        return bool(statuses[world.host_id(leader)]["LocalState"] == "ENABLED"
                    and statuses[f"{world.host_id(leader)}.{KIND}"]["LocalState"]
                    == "DISABLED")
    world.wait(rejoined, 40, "the healed host rejoining as a standby")
    assert _leader(world, leader) == new_leader
    after = _services(world, leader)[f"{world.host_id(new_leader)}.{KIND}"]["LocalEpoch"]
    assert after == new_epoch
    assert f"{KIND}: leading" not in _log_since(world, leader, mark)
    # its API's CreateStack wakes the new leader on another host
    _create_promptly(world, leader, "three-after-heal")
    for stack in (*burst, during, "three-after-heal",
                  *(f"three-wake-{via}" for via in others)):
        _exactly_once(world, new_leader, stack)


def test_zookeeper_quorum_loss_stops_controllers_reads_go_on_and_work_resumes(
        world: ThreeHosts) -> None:
    leader = world.wait(lambda: _leader(world, "h1"), 60, "a cloudformation leader")
    # one ZooKeeper server down: nothing stops
    first, second = [n for n in world.zookeepers if n != leader][:2]
    world.zookeepers[first].kill()
    _create_promptly(world, "h1", "three-one-zk-down")

    world.zookeepers[second].kill()  # two of three: no quorum
    lost = time.monotonic()
    world.wait(lambda: _leader(world, "h1") is None, SESSION_TIMEOUT + 15,
               "no controller leading")
    statuses = _services(world, "h2")
    for n in (1, 2, 3):
        controller = statuses[f"ha3-{n}.{KIND}"]
        assert controller["LocalState"] == "NOTREADY", controller
        assert any("no leader" in d and "ZooKeeper" in d for d in controller["Details"]), \
            controller
    stack = "three-no-quorum"
    _cfn(world, "h2", "create_stack", StackName=stack, TemplateBody=TEMPLATE)
    time.sleep(4)  # the engine would have finished it twice over
    assert _status(world, "h3", stack) == "CREATE_IN_PROGRESS"
    assert not _cfn(world, "h1", "describe_stack_resources", StackName=stack)["StackResources"]
    assert _done(world, "h1", "three-one-zk-down")  # reads go on, on every host
    text = world.cli("h2", "service", "list").stdout
    assert "no leader" in text and "ZooKeeper" in text, text

    for name in (first, second):
        world.zookeepers[name].start()
    world.wait(lambda: _done(world, "h3", stack), 60, "work resuming with the quorum")
    print(f"quorum lost for {time.monotonic() - lost:.1f}s; resumed")
    world.wait(lambda: _leader(world, "h2"), 2 * BEAT, "a leader shown again")
    for done in ("three-one-zk-down", stack):
        _exactly_once(world, "h2", done)
