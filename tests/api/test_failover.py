"""Failover: cloud hosts on one PostgreSQL and one ZooKeeper elect each controller's
leader; kill -9 or SIGSTOP the leader and another host takes over, exactly once.

Two ``cloudctl up`` processes (hosts ``ha-a`` and ``ha-b``, no node) share a database
and the suite's ZooKeeper with a 4 s session timeout. The work a controller does is a
CloudFormation stack of security groups (the stack engine is an elected controller):
every acknowledged CreateStack ends CREATE_COMPLETE with each group created once.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveCloud, new_cloud, wait_for

SESSION_TIMEOUT = 4.0
KIND = "cloudformation"
TEMPLATE = json.dumps({"Resources": {
    f"Group{i}": {"Type": "AWS::EC2::SecurityGroup",
                  "Properties": {"GroupDescription": f"failover group {i}"}}
    for i in range(3)}})


@dataclass
class HostCloud(LiveCloud):
    """One cloud host: its own data directory (the first host's keys), a shared database."""

    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(self.extra)
        return env


def _host(name: str, url: str, zookeeper: str, first: LiveCloud | None) -> HostCloud:
    base = new_cloud(url)
    host = HostCloud(data_dir=base.data_dir, port=base.port, database_url=url, node="none",
                     extra={"CLOUDCTL_ZOOKEEPER": zookeeper, "CLOUDCTL_HOST_ID": name,
                            "CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT": str(SESSION_TIMEOUT)})
    if first is not None:  # what `cloudctl init --join` hands a new host: keys and the CA
        for part in ("keys", "ca"):
            shutil.copytree(first.data_dir / part, host.data_dir / part, dirs_exist_ok=True)
    return host


@pytest.fixture(scope="module")
def hosts(pg_server: Any, zookeeper: Any) -> Iterator[list[HostCloud]]:
    url = pg_server.create_database("cloud_failover")
    first = _host("ha-a", url, zookeeper.connect, None)
    first.start()
    second = _host("ha-b", url, zookeeper.connect, first)
    try:
        second.start()
        yield [first, second]
    finally:
        for host in (first, second):
            if host.process is not None and host.process.poll() is None:
                host.process.send_signal(signal.SIGCONT)
            host.stop()
            shutil.rmtree(host.data_dir, ignore_errors=True)


def _services(cloud: LiveCloud) -> dict[str, dict[str, Any]]:
    empyrean = cloud.client("empyrean", path="/services/Empyrean")
    return {s["ServiceId"]["Name"]: s
            for s in empyrean.describe_services()["ServiceStatuses"]}


def _leader(cloud: LiveCloud, kind: str = KIND) -> str | None:
    for name, status in _services(cloud).items():
        if status["ServiceId"]["Type"] == "controller" and name.endswith(f".{kind}") \
                and status["LocalState"] == "ENABLED":
            return name.removesuffix(f".{kind}")
    return None


def _stack_done(cloud: LiveCloud, name: str) -> bool:
    stack = cloud.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    assert not stack["StackStatus"].endswith("FAILED"), stack
    return bool(stack["StackStatus"] == "CREATE_COMPLETE")


def _exactly_once(cloud: LiveCloud, name: str) -> None:
    """Every group of the stack exists once and was created once."""
    cfn = cloud.client("cloudformation")
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert sorted(r["LogicalResourceId"] for r in resources) == ["Group0", "Group1", "Group2"]
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    created = [e["LogicalResourceId"] for e in events
               if e["ResourceStatus"] == "CREATE_COMPLETE" and e["LogicalResourceId"] != name]
    assert sorted(created) == ["Group0", "Group1", "Group2"], events
    groups = cloud.client("ec2").describe_security_groups(Filters=[
        {"Name": "tag:aws:cloudformation:stack-name", "Values": [name]}])["SecurityGroups"]
    assert sorted(g["GroupId"] for g in groups) == \
        sorted(r["PhysicalResourceId"] for r in resources)


def _first_leader(hosts: list[HostCloud]) -> HostCloud:
    name = wait_for(lambda: _leader(hosts[0]), 30, "a cloudformation leader")
    return next(h for h in hosts if h.extra["CLOUDCTL_HOST_ID"] == name)


def test_leaders_show_in_describe_services_and_service_list(hosts: list[HostCloud]) -> None:
    leader = _first_leader(hosts)
    name = leader.extra["CLOUDCTL_HOST_ID"]
    statuses = _services(hosts[1])
    assert statuses["ha-a"]["LocalState"] == statuses["ha-b"]["LocalState"] == "ENABLED"
    assert statuses[f"{name}.{KIND}"]["LocalEpoch"] > 0
    other = "ha-b" if name == "ha-a" else "ha-a"
    assert wait_for(lambda: _services(hosts[0]).get(f"{other}.{KIND}"), 10,
                    "the standby's entry")["LocalState"] == "DISABLED"
    rows = json.loads(hosts[0].cli("--output", "json", "service", "list").stdout)
    row = next(r for r in rows if r["name"] == f"{name}.{KIND}")
    assert row["type"] == "controller" and row["state"] == "ENABLED"
    host_row = next(r for r in rows if r["name"] == name)
    assert host_row["type"] == "cloud" and "leads" in host_row["details"] \
        and KIND in host_row["details"]
    text = hosts[0].cli("service", "list").stdout
    assert f"{name}.{KIND}" in text and "EPOCH" in text.splitlines()[0]


def test_kill_9_leader_another_host_takes_over_exactly_once(
        hosts: list[HostCloud]) -> None:
    leader = _first_leader(hosts)
    survivor = next(h for h in hosts if h is not leader)
    cfn = survivor.client("cloudformation")
    cfn.create_stack(StackName="failover-before", TemplateBody=TEMPLATE)
    assert leader.process is not None
    leader.process.send_signal(signal.SIGKILL)  # every cloud process of that host
    killed = time.monotonic()
    leader.process.wait()
    cfn.create_stack(StackName="failover-after", TemplateBody=TEMPLATE)
    wait_for(lambda: _stack_done(survivor, "failover-after")
             and _stack_done(survivor, "failover-before"), SESSION_TIMEOUT + 15, "the stacks")
    took = time.monotonic() - killed
    assert took <= SESSION_TIMEOUT + 5, f"takeover and work took {took:.1f}s"
    # DescribeServices shows the leader from its next registry beat (every 2 s)
    wait_for(lambda: _leader(survivor) == survivor.extra["CLOUDCTL_HOST_ID"], 5,
             "the survivor shown leading")
    for name in ("failover-before", "failover-after"):
        _exactly_once(survivor, name)
    dead = leader.extra["CLOUDCTL_HOST_ID"]
    wait_for(lambda: _services(survivor)[dead]["LocalState"] == "NOTREADY", 20,
             "the dead host NOTREADY")
    leader.start()  # it comes back as a standby
    assert wait_for(lambda: _services(survivor).get(f"{dead}.{KIND}", {}).get("LocalState")
                    == "DISABLED", 20, "the restarted host standing by")


def test_paused_leader_is_fenced_and_stands_by_without_acting_twice(
        hosts: list[HostCloud]) -> None:
    leader = _first_leader(hosts)
    other = next(h for h in hosts if h is not leader)
    name, other_name = leader.extra["CLOUDCTL_HOST_ID"], other.extra["CLOUDCTL_HOST_ID"]
    old_epoch = _services(other)[f"{name}.{KIND}"]["LocalEpoch"]
    assert leader.process is not None
    log_mark = leader.log_path.stat().st_size
    leader.process.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: _leader(other) == other_name, SESSION_TIMEOUT + 10,
                 "the standby taking over from the paused leader")
        other.client("cloudformation").create_stack(StackName="failover-paused",
                                                    TemplateBody=TEMPLATE)
        wait_for(lambda: _stack_done(other, "failover-paused"), 20, "the stack")
    finally:
        leader.process.send_signal(signal.SIGCONT)
    new_epoch = _services(other)[f"{other_name}.{KIND}"]["LocalEpoch"]
    assert new_epoch > old_epoch

    def stood_down() -> bool:
        text = Path(leader.log_path).read_text(errors="replace")[log_mark:]
        return f"{KIND}: standing by" in text or f"{KIND}: fenced" in text
    wait_for(stood_down, 15, "the resumed leader standing by")
    time.sleep(3)  # a resync interval of the resumed process: it must not act
    assert _leader(other) == other_name
    assert _services(other)[f"{name}.{KIND}"]["LocalState"] == "DISABLED"
    assert _services(other)[f"{other_name}.{KIND}"]["LocalEpoch"] == new_epoch
    _exactly_once(other, "failover-paused")


def test_disabled_host_gives_up_leadership_and_refuses_work(hosts: list[HostCloud]) -> None:
    leader = _first_leader(hosts)
    other = next(h for h in hosts if h is not leader)
    name, other_name = leader.extra["CLOUDCTL_HOST_ID"], other.extra["CLOUDCTL_HOST_ID"]
    other.cli("service", "disable", name)
    try:
        wait_for(lambda: _leader(other) == other_name, 15, "the other host leading")
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as refused:
            leader.client("ec2").describe_security_groups()
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert _services(other)[name]["LocalState"] == "DISABLED"
    finally:
        other.cli("service", "enable", name)
    wait_for(lambda: _services(other)[name]["LocalState"] == "ENABLED", 10, "enabled again")
    # the host itself serves again from its next registry beat (every 2 s)
    wait_for(lambda: _serving(leader), 10, "the enabled host serving")


def _serving(host: HostCloud) -> bool:
    from botocore.exceptions import ClientError

    try:
        host.client("ec2").describe_security_groups()
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ServiceUnavailable":
            raise
        return False
    return True


def test_unreachable_zookeeper_means_no_controller_acts_until_it_returns() -> None:
    """A configured ZooKeeper that cannot be reached is not a reason to lead locally:
    the API answers, no controller acts; when the ensemble appears, work resumes."""
    from tests.infra.postgres import free_port
    from tests.infra.zookeeper import ZooKeeperServer

    port = free_port()
    base = new_cloud()
    host = HostCloud(data_dir=base.data_dir, port=base.port, database_url=None, node="none",
                     extra={"CLOUDCTL_ZOOKEEPER": f"127.0.0.1:{port}",
                            "CLOUDCTL_HOST_ID": "ha-alone",
                            "CLOUDCTL_ZOOKEEPER_SESSION_TIMEOUT": str(SESSION_TIMEOUT)})
    server = ZooKeeperServer(base.data_dir / "zk", port=port)
    host.start()
    try:
        cfn = host.client("cloudformation")
        cfn.create_stack(StackName="failover-no-quorum", TemplateBody=TEMPLATE)
        time.sleep(4)  # two engine intervals
        stack = cfn.describe_stacks(StackName="failover-no-quorum")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_IN_PROGRESS"
        assert not cfn.describe_stack_resources(StackName="failover-no-quorum")[
            "StackResources"]
        assert _leader(host) is None
        alone = _services(host)
        assert alone[f"ha-alone.{KIND}"]["LocalState"] == "NOTREADY"
        assert alone[f"ha-alone.{KIND}"]["Details"][0].startswith("no leader")
        assert "ZooKeeper unreachable" in " ".join(alone["ha-alone"]["Details"])
        server.start()
        wait_for(lambda: _stack_done(host, "failover-no-quorum"), 30, "work resuming")
        wait_for(lambda: _leader(host) == "ha-alone", 5, "the host shown leading")
        _exactly_once(host, "failover-no-quorum")
    finally:
        host.stop()
        server.remove()
        shutil.rmtree(host.data_dir, ignore_errors=True)
