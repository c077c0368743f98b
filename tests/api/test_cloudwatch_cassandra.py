"""CloudWatch on the Cassandra metric store (``cloudwatch.metric_store = cassandra``)
against a real Apache Cassandra: the shared workload gives the answers it gives on the
embedded store, points land in Cassandra (not the cloud's database), and alarms
evaluate from it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import cloudwatch_scenario
from tests.support import LiveCloud, new_cloud, run_cloud, wait_for


@pytest.fixture(scope="module")
def cassandra_cloud(cassandra_server: Any) -> Iterator[LiveCloud]:
    for cloud in run_cloud(new_cloud()):
        cloud.set_properties("cloudwatch.cassandra.contact_points="
                             f"{cassandra_server.contact_points}")
        cloud.set_properties("cloudwatch.cassandra.keyspace=cw_test")
        cloud.set_properties("cloudwatch.metric_store=cassandra")
        time.sleep(2.5)  # the workers' property poll
        yield cloud


def test_same_answers_as_the_embedded_store(cassandra_cloud: LiveCloud,
                                            sqlite_cloud: LiveCloud,
                                            cassandra_server: Any) -> None:
    on_cassandra = cloudwatch_scenario.run(cassandra_cloud)
    cloudwatch_scenario.check(on_cassandra)
    assert on_cassandra == cloudwatch_scenario.run(sqlite_cloud)
    from cassandra.cluster import Cluster  # type: ignore[import-untyped]

    host, port = cassandra_server.contact_points.split(":")
    cluster = Cluster([host], port=int(port), protocol_version=3)
    try:
        rows = cluster.connect("cw_test").execute("SELECT count(*) FROM points").one()
        assert rows[0] > 0
    finally:
        cluster.shutdown()


def test_alarm_from_cassandra(cassandra_cloud: LiveCloud) -> None:
    from datetime import UTC, datetime, timedelta

    cw = cassandra_cloud.client("cloudwatch")
    cassandra_cloud.set_properties("cloudwatch.alarm_evaluation_interval_sec=2")
    ns, name = f"Test/{uuid.uuid4().hex[:6]}", f"c-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Load", "Value": 90.0, "Timestamp": now - timedelta(minutes=m)}
        for m in (1, 2)])
    cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="Load",
                        Statistic="Average", Period=60, EvaluationPeriods=2, Threshold=50.0,
                        ComparisonOperator="GreaterThanThreshold")

    def state() -> str:
        return str(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])

    assert wait_for(lambda: state() == "ALARM", 30, "ALARM from Cassandra points")
