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

Last (it kills a host of the shared world): compute and Auto Scaling on a fake node
agent outside the hosts; the host leading the compute, EBS and Auto Scaling controllers
is killed (SIGKILL, every process of its cloud) during a burst of RunInstances,
CreateVolume and a scale-out; another host takes over within the session timeout plus
5 s, every acknowledged request is carried out exactly once and nothing is orphaned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

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


def _elections_since(world: ThreeHosts, name: str, mark: int) -> list[str]:
    """Host ``name``'s log lines about the KIND election since ``mark`` (a failure's why)."""
    return [line for line in _log_since(world, name, mark).splitlines()
            if f"{KIND}: " in line or "ZooKeeper connection" in line]


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
        # the session timeout, plus (when the cut host also ran the ZooKeeper ensemble's
        # leader) the ensemble's own election before it expires the session, plus a term
        # row a transaction cut mid-commit holds until PostgreSQL ends it (twice the
        # session timeout idle)
        new_leader = world.wait(lambda: _leader_among(world, others[0], others),
                                3 * SESSION_TIMEOUT + 20, "the other two electing a leader")
        took = time.monotonic() - cut
        assert took <= 3 * SESSION_TIMEOUT + 8 + BEAT, f"takeover took {took:.1f}s"
        print(f"{leader} cut off: {new_leader} shown leading after {took:.1f}s")
        during = "three-during-partition"
        _cfn(world, others[1], "create_stack", StackName=during, TemplateBody=TEMPLATE)
        # the cut-off host's open transactions hold row locks until PostgreSQL ends them
        # (idle in transaction for twice the session timeout): then the work goes on
        world.wait(lambda: _done(world, others[1], *burst, during), 4 * SESSION_TIMEOUT
                   + 2 * PROMPT, "the burst and the new stack")
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
    world.wait(lambda: _leader(world, "h1"), 60, "a cloudformation leader")
    # the ensemble's leader is the server left: the hard case, as it goes on serving reads
    # and taking reconnecting sessions until it notices it lost its followers (its sync
    # limit); a controller leader suspended by its server's end reconnects to it at once
    # the whole ensemble first (the server of the host healed above may still be joining:
    # then the first server down would already take the quorum)
    world.wait(lambda: all(z.serving() for z in world.zookeepers.values()), 60,
               "every ZooKeeper server serving")
    survivor = world.wait(lambda: [n for n, z in world.zookeepers.items()
                                   if z.mode() == "leader"], 30, "the ensemble's leader")[0]
    first, second = [n for n in world.zookeepers if n != survivor]
    try:
        world.zookeepers[first].kill()  # one ZooKeeper server down: nothing stops
        _create_promptly(world, "h1", "three-one-zk-down")

        marks = {name: host.log_path.stat().st_size for name, host in world.hosts.items()}
        world.zookeepers[second].kill()  # two of three: no quorum
        lost = time.monotonic()
        world.wait(lambda: _leader(world, "h1") is None, SESSION_TIMEOUT + 15,
                   "no controller leading")
        # one host's view can show no leader while a leader elsewhere still acts: until
        # the survivor notices it lost its followers it keeps serving that leader's
        # session (ZooKeeper's window, a fraction of a second; the terms fence it), so
        # the work below is asked for once the survivor has stopped serving
        world.wait(lambda: not world.zookeepers[survivor].serving(), SESSION_TIMEOUT + 15,
                   "the survivor noticing it lost its quorum")
        # a leader back on the survivor before it noticed must not have acted: it proves a
        # quorum with a write first, and proves it again when its connection broke while
        # it claimed the term (cloudctl.core.election)
        for name in world.hosts:
            assert f"{KIND}: leading" not in _log_since(world, name, marks[name]), \
                (name, _elections_since(world, name, marks[name]))

        # DescribeServices shows the hosts' heartbeats: no controller leads within a beat
        def none_leading() -> dict[str, dict[str, Any]] | None:
            found = _services(world, "h2")
            return found if all(found[f"ha3-{n}.{KIND}"]["LocalState"] == "NOTREADY"
                                for n in (1, 2, 3)) else None

        statuses = world.wait(none_leading, 2 * BEAT, "every controller NOTREADY", poll=0.1)
        for n in (1, 2, 3):
            controller = statuses[f"ha3-{n}.{KIND}"]
            assert any("no leader" in d and "ZooKeeper" in d for d in controller["Details"]), \
                controller
        stack = "three-no-quorum"
        _cfn(world, "h2", "create_stack", StackName=stack, TemplateBody=TEMPLATE)
        time.sleep(4)  # the engine would have finished it twice over
        assert _status(world, "h3", stack) == "CREATE_IN_PROGRESS"
        assert not world.zookeepers[survivor].serving()
        for name in world.hosts:  # not even for a moment on the survivor before it noticed
            assert f"{KIND}: leading" not in _log_since(world, name, marks[name]), \
                (name, _elections_since(world, name, marks[name]))
        assert not _cfn(world, "h1", "describe_stack_resources", StackName=stack)["StackResources"]
        assert _done(world, "h1", "three-one-zk-down")  # reads go on, on every host
        text = world.cli("h2", "service", "list").stdout
        assert "no leader" in text and "ZooKeeper" in text, text
    finally:  # the quorum back whatever failed: the next test needs the ensemble
        for name in (first, second):
            if world.zookeepers[name].running_pid() is None:
                world.zookeepers[name].start()
    world.wait(lambda: _done(world, "h3", stack), 60, "work resuming with the quorum")
    print(f"quorum lost for {time.monotonic() - lost:.1f}s; resumed")
    world.wait(lambda: _leader(world, "h2"), 2 * BEAT, "a leader shown again")
    for done in ("three-one-zk-down", stack):
        _exactly_once(world, "h2", done)


# -- compute and Auto Scaling: the leader's host killed during a burst ---------------------

COMPUTE = ("compute-controller", "ebs-reconciler", "autoscaling-groups")
RUNS = 4  # RunInstances calls of 2 instances each
VOLUMES = 4
DESIRED = 3  # the group's scale-out


def _leaders(world: ThreeHosts, via: str) -> dict[str, str]:
    """kind -> the host (h1..h3) whose controller of that kind is ENABLED."""
    found: dict[str, str] = {}
    for name, status in _services(world, via).items():
        host, _, kind = name.partition(".")
        if status["ServiceId"]["Type"] == "controller" and status["LocalState"] == "ENABLED":
            found[kind] = world.name_of(host)
    return found


def _lead_all(world: ThreeHosts, leader: str) -> None:
    """Make ``leader`` lead every compute kind (the others drained, then back as
    standbys), as an operator would move the controllers to one host."""
    others = [n for n in world.hosts if n != leader]
    for name in others:
        world.cli(leader, "service", "disable", world.host_id(name))
    world.wait(lambda: all(_leaders(world, leader).get(k) == leader for k in COMPUTE), 30,
               f"{leader} leading {COMPUTE}")
    for name in others:
        world.cli(leader, "service", "enable", world.host_id(name))

    def standbys() -> bool:
        statuses = _services(world, leader)
        return all(statuses[world.host_id(n)]["LocalState"] == "ENABLED"
                   and statuses[f"{world.host_id(n)}.{k}"]["LocalState"] == "DISABLED"
                   for n in others for k in COMPUTE)
    world.wait(standbys, 30, "the other hosts standing by")


def _call(world: ThreeHosts, hosts: list[str], service: str, method: str,
          **kwargs: Any) -> Any:
    """One request through the first host that answers, as a client retries (the same
    ClientToken on the next host when a host's connection fails)."""
    last: Exception | None = None
    for _ in range(3):
        for via in hosts:
            client = world.client_call(partial(world.view(via).client, service))
            try:
                return world.client_call(partial(getattr(client, method), **kwargs))
            except BotoCoreError as exc:  # the host's connection failed
                last = exc
            except ClientError as exc:
                if exc.response["ResponseMetadata"]["HTTPStatusCode"] < 500:
                    raise
                last = exc
        time.sleep(1)
    raise AssertionError(f"{method} answered by no host: {last!r}")


def test_compute_leader_host_killed_during_a_burst_is_taken_over_exactly_once(
        world: ThreeHosts, tmp_path: Path) -> None:
    world.start_node()
    volumes_dir = tmp_path / "shared-volumes"  # the zone's block store, shared by all hosts
    view = world.view("h1")
    zone = world.client_call(lambda: view.client("ec2").describe_availability_zones())[
        "AvailabilityZones"][0]["ZoneName"]
    properties = {f"{zone}.storage.volumes_dir": str(volumes_dir),
                  "cloud.scheduler.cpu_overcommit_ratio": "16"}
    admin = world.client_call(partial(view.client, "properties", path="/services/Properties"))
    for name, value in properties.items():
        world.client_call(partial(admin.modify_property_value, Name=name, Value=value))
    world.wait(lambda: any(world.sql("SELECT name FROM cloud_nodes WHERE last_heartbeat "
                                     "IS NOT NULL")), 60, "the node's first heartbeat")
    emi = world.client_call(lambda: view.client("ec2").describe_images(Filters=[
        {"Name": "name", "Values": ["cloudctl-tiny-guest"]}])["Images"][0]["ImageId"])
    autoscaling = world.client_call(lambda: view.client("autoscaling"))
    world.client_call(lambda: autoscaling.create_launch_configuration(
        LaunchConfigurationName="burst-lc", ImageId=emi, InstanceType="t1.micro"))
    world.client_call(lambda: autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="burst", LaunchConfigurationName="burst-lc", MinSize=0,
        MaxSize=6, DesiredCapacity=0, AvailabilityZones=[zone]))
    time.sleep(3)  # settle before the world is rearranged

    leader = world.wait(lambda: _leaders(world, "h1").get(COMPUTE[0]), 30,
                        "a compute leader")
    _lead_all(world, leader)
    others = [n for n in world.hosts if n != leader]
    old = dict(world.sql("SELECT kind, epoch FROM leader_terms"))
    everyone = [leader, *others]

    # the burst: a scale-out and launches through every host's API, the leader's killed
    # after the first answers (work in flight on it); a request its death cut off is
    # sent again with the same ClientToken through another host
    _call(world, [leader], "autoscaling", "set_desired_capacity",
          AutoScalingGroupName="burst", DesiredCapacity=DESIRED)
    runs: dict[str, dict[str, Any]] = {}
    volumes: dict[str, str] = {}

    def run(i: int) -> None:
        hosts = everyone[i % 3:] + everyone[:i % 3]
        runs[f"burst-run-{i}"] = _call(world, hosts, "ec2", "run_instances", ImageId=emi,
                                       InstanceType="t1.micro", MinCount=2, MaxCount=2,
                                       ClientToken=f"burst-run-{i}")

    def volume(i: int) -> None:
        hosts = everyone[i % 3:] + everyone[:i % 3]
        volumes[f"burst-vol-{i}"] = _call(world, hosts, "ec2", "create_volume",
                                          AvailabilityZone=zone, Size=1,
                                          ClientToken=f"burst-vol-{i}")["VolumeId"]

    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(run, i) for i in range(RUNS)]
        jobs += [pool.submit(volume, i) for i in range(VOLUMES)]
        world.wait(lambda: sum(j.done() for j in jobs) >= 2, 30, "the first answers")
        killed_at = time.time()
        killed = world.kill_host(leader)
        for job in jobs:
            job.result()
    print(f"killed {leader} ({len(killed)} processes) with "
          f"{sum(len(r['Instances']) for r in runs.values())} instances, {len(volumes)} "
          "volumes and the scale-out acknowledged")

    # another host takes every kind over within the session timeout plus 5 s
    def taken_over() -> dict[str, tuple[int, str, float]] | None:
        rows = {kind: (epoch, host, since.timestamp()) for kind, epoch, host, since in
                world.sql("SELECT kind, epoch, host, since FROM leader_terms")}
        if all(rows[k][0] > old[k] and rows[k][1] != world.host_id(leader)
               for k in COMPUTE):
            return rows
        return None

    terms = world.wait(taken_over, SESSION_TIMEOUT + 15, "another host taking over")
    took = {k: terms[k][2] - killed_at for k in COMPUTE}
    print("takeover after the kill: " + ", ".join(f"{k} {t:.2f}s by {terms[k][1]}"
                                                   for k, t in took.items()))
    assert max(took.values()) <= SESSION_TIMEOUT + 5, took

    # every acknowledged request carried out exactly once
    ec2 = world.view(others[0])

    def instances() -> list[dict[str, Any]]:
        pages = world.client_call(lambda: ec2.client("ec2").describe_instances())
        return [i for r in pages["Reservations"] for i in r["Instances"]]

    def converged() -> bool:
        found = instances()
        group = world.client_call(lambda: ec2.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=["burst"]))["AutoScalingGroups"][0]
        vols = world.client_call(lambda: ec2.client("ec2").describe_volumes(
            VolumeIds=list(volumes.values()))["Volumes"])
        running = [i for i in found if i["State"]["Name"] == "running"]
        return (all(len([i for i in running if i.get("ClientToken") == token]) == 2
                    for token in runs)
                and len(group["Instances"]) == DESIRED
                and all(i["LifecycleState"] == "InService" for i in group["Instances"])
                and all(v["State"] == "available" for v in vols))
    world.wait(converged, 60, "the burst carried out")
    found = instances()
    assert len(found) == 2 * RUNS + DESIRED, found  # none more, even terminated
    for token, answer in runs.items():
        mine = [i for i in found if i.get("ClientToken") == token]
        assert sorted(i["InstanceId"] for i in mine) == \
            sorted(i["InstanceId"] for i in answer["Instances"]), (token, mine)
    tagged = [i for i in found if {"Key": "aws:autoscaling:groupName", "Value": "burst"}
              in i.get("Tags", [])]
    group = world.client_call(lambda: ec2.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["burst"]))["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == DESIRED
    assert sorted(i["InstanceId"] for i in tagged) == \
        sorted(i["InstanceId"] for i in group["Instances"]), (tagged, group)
    activities = world.client_call(lambda: ec2.client("autoscaling").describe_scaling_activities(
        AutoScalingGroupName="burst"))["Activities"]
    assert len([a for a in activities if a["Description"].startswith("Launching")]) == \
        DESIRED, activities

    # nothing orphaned: guests, volumes, network objects
    live = {i["InstanceId"] for i in found}
    world.wait(lambda: world.node_guests() == live, 30, "the node holding exactly the "
               "instances")
    assert {p.stem for p in (volumes_dir / "volumes").iterdir()} == set(volumes.values())
    assert {r[0] for r in world.sql("SELECT instance_id FROM net_instance_nics")} == live
    assert {r[0] for r in world.sql("SELECT instance_id FROM ec2_addresses WHERE "
                                    "instance_id IS NOT NULL")} <= live
    assert {r[0] for r in world.sql(
        "SELECT instance_id FROM ec2_instance_security_groups")} <= live
    volumes_rows = world.sql("SELECT volume_id FROM ebs_volumes")
    assert sorted(r[0] for r in volumes_rows) == sorted(volumes.values())
