"""kill -9 the cloud while alarms transition and their EC2 actions run, start it again
on the same data: every alarm ends in ALARM with exactly one recorded transition to it
and exactly one action outcome (none lost, none repeated)."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud, new_cloud, wait_for

ALARMS_PER_ROUND = 12
ROUNDS = 3


@pytest.fixture
def crash_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveCloud]:
    monkeypatch.setenv("CLOUDCTL_LOCAL_NODE", "fake")
    monkeypatch.setenv("CLOUDCTL_DEMO_IMAGE", "0")
    cloud = new_cloud()
    try:
        cloud.start()
        yield cloud
    finally:
        cloud.stop()


def test_kill_9_during_alarm_transitions(crash_shared: LiveCloud) -> None:
    cloud = crash_shared
    cloud.set_properties("cloudwatch.alarm_evaluation_interval_sec=1")
    images = register_image_set(cloud, cloud.data_dir / "crash-imgs")
    ec2 = cloud.client("ec2")
    instances = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=images["emi"], MinCount=6, MaxCount=6)["Instances"]]
    wait_for(lambda: all(i["State"]["Name"] == "running" for r in ec2.describe_instances(
        InstanceIds=instances)["Reservations"] for i in r["Instances"]), 60, "running")
    names: list[str] = []
    rng = random.Random(7)
    for round_no in range(ROUNDS):
        cw = cloud.client("cloudwatch")
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        for n in range(ALARMS_PER_ROUND):
            iid = instances[(round_no * ALARMS_PER_ROUND + n) % len(instances)]
            name = f"crash-{round_no}-{n}"
            dims = [{"Name": "InstanceId", "Value": iid}, {"Name": "Alarm", "Value": name}]
            cw.put_metric_data(Namespace="Test/crash", MetricData=[
                {"MetricName": "Load", "Dimensions": dims, "Value": 99.0,
                 "Timestamp": now - timedelta(minutes=m)} for m in (1, 2)])
            cw.put_metric_alarm(
                AlarmName=name, Namespace="Test/crash", MetricName="Load", Dimensions=dims,
                Statistic="Maximum", Period=60, EvaluationPeriods=2, Threshold=50.0,
                ComparisonOperator="GreaterThanThreshold",
                AlarmActions=[f"arn:aws:automate:{cloud.region}:ec2:reboot"])
            names.append(name)
        time.sleep(rng.uniform(0.2, 1.5))
        cloud.stop(signal.SIGKILL)
        cloud.start()
    cw = cloud.client("cloudwatch")

    def history() -> list[dict[str, str]]:
        pages = cw.get_paginator("describe_alarm_history").paginate(
            AlarmTypes=["MetricAlarm"])
        return [item for page in pages for item in page["AlarmHistoryItems"]]

    def settled() -> list[dict[str, str]] | None:
        items = history()
        actions = [i for i in items if i["HistoryItemType"] == "Action"]
        return items if len({i["AlarmName"] for i in actions}) == len(names) else None

    items = wait_for(settled, 90, "every alarm's action", interval=1.0)
    time.sleep(3)  # anything repeated would show up now
    items = history()
    to_alarm = Counter(i["AlarmName"] for i in items if i["HistorySummary"] ==
                       "Alarm updated from INSUFFICIENT_DATA to ALARM")
    actions = Counter(i["AlarmName"] for i in items if i["HistoryItemType"] == "Action")
    assert to_alarm == dict.fromkeys(names, 1)
    assert actions == dict.fromkeys(names, 1)
    outcomes = {json.loads(i["HistoryData"])["result"] for i in items
                if i["HistoryItemType"] == "Action"}
    assert all(o.startswith("RebootInstances") or "interrupted" in o for o in outcomes)
    states = cw.describe_alarms(AlarmNamePrefix="crash-", MaxRecords=100)["MetricAlarms"]
    assert {a["StateValue"] for a in states} == {"ALARM"}
    # the kill -9 cloud is shared (tests/api/conftest.py): nothing of this test stays
    cw.delete_alarms(AlarmNames=names)
    cloud.client("ec2").terminate_instances(InstanceIds=instances)
    cloud.reset_properties("cloudwatch.alarm_evaluation_interval_sec")


@pytest.fixture
def two_worker_cloud(two_worker_shared: LiveCloud) -> LiveCloud:
    """The shared cloud with two API workers, fake node, no demo image
    (tests/api/conftest.py)."""
    return two_worker_shared


def test_set_alarm_state_acts_at_once_on_any_worker(two_worker_cloud: LiveCloud) -> None:
    """Alarms are evaluated every minute by the leader; SetAlarmState's actions run in
    the worker that served it, claimed once (never by both it and the leader)."""
    cloud = two_worker_cloud
    images = register_image_set(cloud, cloud.data_dir / "imgs")
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    instances = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=images["emi"], MinCount=6, MaxCount=6)["Instances"]]
    for iid in instances:
        cw.put_metric_alarm(
            AlarmName=f"now-{iid}", Namespace="Test/now", MetricName="Load",
            Dimensions=[{"Name": "InstanceId", "Value": iid}], Statistic="Maximum",
            Period=60, EvaluationPeriods=1, Threshold=50.0, TreatMissingData="ignore",
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[f"arn:aws:automate:{cloud.region}:ec2:terminate"])
        cw.set_alarm_state(AlarmName=f"now-{iid}", StateValue="ALARM", StateReason="now")

    def all_terminating() -> bool:
        states = {i["State"]["Name"] for r in ec2.describe_instances(
            InstanceIds=instances)["Reservations"] for i in r["Instances"]}
        return states <= {"shutting-down", "terminated"}

    wait_for(all_terminating, 20, "every terminate action (well before the next minute)")
    time.sleep(2)
    items = [i for page in cw.get_paginator("describe_alarm_history").paginate(
        HistoryItemType="Action") for i in page["AlarmHistoryItems"]]
    assert Counter(i["AlarmName"] for i in items) == {f"now-{iid}": 1 for iid in instances}


def test_kill_9_loses_no_acknowledged_put_metric_data(crash_cloud: LiveCloud) -> None:
    """Eight clients put data while the cloud is killed -9 (their calls are grouped into
    one commit): after a restart every answered call's value is stored, and nothing
    else beyond the one call each client had in flight. Killed between ingest (which
    writes the 1-minute buckets only) and the roll-up (compaction), the 5-minute and
    1-hour periods give the same answer before and after the restarted cloud rolls the
    data up."""
    import threading


    cloud = crash_cloud
    cloud.set_properties("cloudwatch.compaction_interval_sec=3600")  # its first run only
    acked: dict[int, list[float]] = {n: [] for n in range(8)}
    stop = threading.Event()
    # a closed minute: compaction (the roll-up) takes it at its next run
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)

    def client(n: int) -> None:
        cw = cloud.client("cloudwatch")
        for i in range(1, 100_000):
            if stop.is_set():
                return
            try:
                cw.put_metric_data(Namespace="Test/durable", MetricData=[
                    {"MetricName": "Put", "Dimensions": [{"Name": "Client", "Value": str(n)}],
                     "Value": float(i), "Timestamp": start, "Unit": "Count"}])
            except Exception:
                return
            acked[n].append(float(i))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: min(len(v) for v in acked.values()) >= 20, 60, "puts")
    assert _fresh_rows(cloud) > 0  # the data is not rolled up when the cloud dies
    cloud.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(30)
    cloud.start()
    cw = cloud.client("cloudwatch")
    stored: dict[int, tuple[float, float]] = {}
    for n, values in acked.items():
        points = cw.get_metric_statistics(
            Namespace="Test/durable", MetricName="Put",
            Dimensions=[{"Name": "Client", "Value": str(n)}], StartTime=start,
            EndTime=start + timedelta(minutes=1), Period=60,
            Statistics=["SampleCount", "Sum"])["Datapoints"]
        assert len(points) == 1, (n, points)
        count, total = points[0]["SampleCount"], points[0]["Sum"]
        # calls 1..k were answered; call k+1 may have committed before the kill
        k = len(values)
        assert count in (k, k + 1), (n, count, k)
        assert total == sum(range(1, int(count) + 1)), (n, total, count)
        stored[n] = (count, total)

    def coarse() -> dict[tuple[int, int], tuple[float, float]]:
        out = {}
        for period in (300, 3600):
            first = datetime.fromtimestamp(start.timestamp() // period * period, UTC)
            for n in acked:
                [point] = cw.get_metric_statistics(
                    Namespace="Test/durable", MetricName="Put",
                    Dimensions=[{"Name": "Client", "Value": str(n)}], StartTime=first,
                    EndTime=first + timedelta(seconds=period), Period=period,
                    Statistics=["SampleCount", "Sum"])["Datapoints"]
                out[(period, n)] = (point["SampleCount"], point["Sum"])
        return out

    assert coarse() == {(p, n): v for p in (300, 3600) for n, v in stored.items()}
    wait_for(lambda: _fresh_rows(cloud) == 0, 60, "the roll-up")  # the restart's run
    assert coarse() == {(p, n): v for p in (300, 3600) for n, v in stored.items()}


def _fresh_rows(cloud: LiveCloud) -> int:
    """The cloud's buckets not yet rolled up (fresh rows and ingest log rows)."""
    import sqlite3

    with sqlite3.connect(cloud.data_dir / "cloud.db") as conn:
        return int(conn.execute("SELECT (SELECT count(*) FROM cw_fresh) + "
                                "(SELECT count(*) FROM cw_ingest)").fetchone()[0])
