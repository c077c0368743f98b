"""CloudWatch metrics through boto3 and the AWS CLI: PutMetricData (values, Values and
Counts, statistic sets, high resolution, limits and errors), GetMetricStatistics
(standard and percentile statistics, period rules), GetMetricData (metric math, ScanBy,
paging, labels) and ListMetrics (filters, paging)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud, wait_for

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _ns() -> str:
    return f"Test/{uuid.uuid4().hex[:8]}"


def _minute(ago: int = 0) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=ago)


def test_put_values_and_read_statistics(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    ns, at = _ns(), _minute(5)
    dims = [{"Name": "Host", "Value": "a"}]
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Lat", "Dimensions": dims, "Timestamp": at, "Value": 10.0,
         "Unit": "Milliseconds"},
        {"MetricName": "Lat", "Dimensions": dims, "Timestamp": at + timedelta(seconds=10),
         "Values": [1.0, 2.0, 100.0], "Counts": [1.0, 7.0, 2.0], "Unit": "Milliseconds"},
    ])
    got = cw.get_metric_statistics(
        Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=at,
        EndTime=at + timedelta(minutes=1), Period=60,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"])
    [point] = got["Datapoints"]
    assert point["SampleCount"] == 11.0
    assert point["Sum"] == 10.0 + 1.0 + 14.0 + 200.0
    assert (point["Minimum"], point["Maximum"]) == (1.0, 100.0)
    assert point["Average"] == pytest.approx(225.0 / 11)
    assert point["Unit"] == "Milliseconds"
    pct = cw.get_metric_statistics(
        Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=at,
        EndTime=at + timedelta(minutes=1), Period=60, ExtendedStatistics=["p50", "p99"])
    assert pct["Datapoints"][0]["ExtendedStatistics"] == {"p50": 2.0, "p99": 100.0}
    # another dimension set is another metric
    other = cw.get_metric_statistics(
        Namespace=ns, MetricName="Lat", StartTime=at, EndTime=at + timedelta(minutes=1),
        Period=60, Statistics=["Sum"])
    assert other["Datapoints"] == []


def test_statistic_sets_have_no_percentiles(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    ns, at = _ns(), _minute(3)
    cw.put_metric_data(Namespace=ns, MetricData=[{
        "MetricName": "S", "Timestamp": at,
        "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}}])
    got = cw.get_metric_statistics(Namespace=ns, MetricName="S", StartTime=at,
                                   EndTime=at + timedelta(minutes=1), Period=60,
                                   ExtendedStatistics=["p50"])
    assert [p.get("ExtendedStatistics") for p in got["Datapoints"]] in ([], [None])
    std = cw.get_metric_statistics(Namespace=ns, MetricName="S", StartTime=at,
                                   EndTime=at + timedelta(minutes=1), Period=60,
                                   Statistics=["Average", "SampleCount"])
    assert std["Datapoints"][0]["Average"] == 2.5
    assert std["Datapoints"][0]["SampleCount"] == 4


def test_high_resolution_periods(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    ns, at = _ns(), _minute(2)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "H", "Timestamp": at + timedelta(seconds=s), "Value": float(s),
         "StorageResolution": 1} for s in range(0, 20)])
    got = cw.get_metric_statistics(Namespace=ns, MetricName="H", StartTime=at,
                                   EndTime=at + timedelta(seconds=20), Period=10,
                                   Statistics=["Sum"])
    assert sorted(p["Sum"] for p in got["Datapoints"]) == [45.0, 145.0]
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(Namespace=ns, MetricName="H", StartTime=at,
                                 EndTime=at + timedelta(seconds=20), Period=7,
                                 Statistics=["Sum"])
    assert _code(exc) == "InvalidParameterValue"


@pytest.mark.parametrize(("datum", "code"), [
    ({"MetricName": "m", "Value": 1.0, "Values": [1.0]}, "InvalidParameterCombination"),
    ({"MetricName": "m", "Value": 1.0,
      "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}},
     "InvalidParameterCombination"),
    ({"MetricName": "m"}, "MissingParameter"),
    ({"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}, "InvalidParameterValue"),
    ({"MetricName": "m", "Value": 1.0, "StorageResolution": 30}, "InvalidParameterValue"),
    ({"MetricName": "m", "Value": 1.0, "Timestamp": datetime.now(UTC) - timedelta(days=15)},
     "InvalidParameterValue"),
    ({"MetricName": "m", "Value": 1.0, "Timestamp": datetime.now(UTC) + timedelta(hours=3)},
     "InvalidParameterValue"),
    ({"MetricName": "m", "Value": 2.0 ** 400}, "InvalidParameterValue"),
    ({"MetricName": "m", "Values": [1.0] * 151}, "InvalidParameterValue"),
])
@pytest.mark.sqlite_only("validation answered before any SQL")
def test_put_metric_data_errors(cloud: LiveCloud, datum: dict[str, Any], code: str) -> None:
    cw = cloud.client("cloudwatch")
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="Test/errors", MetricData=[datum])
    assert _code(exc) == code
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_put_metric_data_namespace_and_count_limits(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1}])
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="Test/x", MetricData=[
            {"MetricName": "m", "Value": 1.0}] * 1001)
    assert _code(exc) == "InvalidParameterValue"


def test_get_metric_statistics_rules(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    now = datetime.now(UTC)
    base = {"Namespace": "Test/x", "MetricName": "m"}
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, StartTime=now, EndTime=now - timedelta(hours=1),
                                 Period=60, Statistics=["Sum"])
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, StartTime=now - timedelta(days=2), EndTime=now,
                                 Period=60, Statistics=["Sum"])
    assert _code(exc) == "InvalidParameterCombination"  # 2880 points > 1440
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, StartTime=now - timedelta(hours=1), EndTime=now,
                                 Period=60)
    assert _code(exc) == "MissingParameter"
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, StartTime=now - timedelta(hours=1), EndTime=now,
                                 Period=60, ExtendedStatistics=["x50"])
    assert _code(exc) == "InvalidParameterValue"


def test_get_metric_data_math_scan_and_paging(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    ns, start = _ns(), _minute(10)
    cw.put_metric_data(Namespace=ns, MetricData=[
        *({"MetricName": "A", "Timestamp": start + timedelta(minutes=i), "Value": float(i)}
          for i in range(5)),
        *({"MetricName": "B", "Timestamp": start + timedelta(minutes=i), "Value": 10.0}
          for i in range(0, 5, 2))])

    def stat(name: str, qid: str) -> dict[str, Any]:
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": name},
                                          "Period": 60, "Stat": "Sum"}, "ReturnData": False}

    queries = [stat("A", "a"), stat("B", "b"),
               {"Id": "total", "Expression": "a + b", "Label": "A plus B"},
               {"Id": "filled", "Expression": "FILL(b, 0)"},
               {"Id": "rate", "Expression": "DIFF(a)"},
               {"Id": "big", "Expression": "IF(a > 2, a, 0)"},
               {"Id": "agg", "Expression": "SUM(METRICS())"}]
    got = cw.get_metric_data(MetricDataQueries=queries, StartTime=start,
                             EndTime=start + timedelta(minutes=5), ScanBy="TimestampAscending")
    by_id = {r["Id"]: r for r in got["MetricDataResults"]}
    assert by_id["total"]["Values"] == [10.0, 12.0, 14.0]
    assert by_id["total"]["Label"] == "A plus B"
    assert by_id["filled"]["Values"] == [10.0, 0.0, 10.0, 0.0, 10.0]
    assert by_id["rate"]["Values"] == [1.0, 1.0, 1.0, 1.0]
    assert by_id["big"]["Values"] == [0.0, 0.0, 0.0, 3.0, 4.0]
    assert by_id["agg"]["Values"] == [10.0, 1.0, 12.0, 3.0, 14.0]
    assert set(by_id) == {"total", "filled", "rate", "big", "agg"}
    desc = cw.get_metric_data(MetricDataQueries=[{**stat("A", "a"), "ReturnData": True}],
                              StartTime=start, EndTime=start + timedelta(minutes=5))
    assert desc["MetricDataResults"][0]["Values"] == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert desc["MetricDataResults"][0]["Label"] == "A"
    pages = list(cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[{**stat("A", "a"), "ReturnData": True}], StartTime=start,
        EndTime=start + timedelta(minutes=5), ScanBy="TimestampAscending",
        PaginationConfig={"PageSize": 2}))
    values = [v for p in pages for r in p["MetricDataResults"] for v in r["Values"]]
    assert values == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(pages) == 3
    both = list(cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[{**stat("A", "a"), "ReturnData": True},
                           {**stat("B", "b"), "ReturnData": True}],
        StartTime=start, EndTime=start + timedelta(minutes=5), ScanBy="TimestampAscending",
        PaginationConfig={"PageSize": 3}))
    served = [(r["Id"], v) for p in both for r in p["MetricDataResults"] for v in r["Values"]]
    assert served == [("a", 0.0), ("a", 1.0), ("a", 2.0), ("a", 3.0), ("a", 4.0),
                      ("b", 10.0), ("b", 10.0), ("b", 10.0)]
    assert [len(p["MetricDataResults"]) for p in both] == [1, 2, 1]
    with pytest.raises(ClientError) as exc:
        cw.get_metric_data(MetricDataQueries=[{**stat("A", "a"), "ReturnData": True}],
                           StartTime=start, EndTime=start + timedelta(minutes=5),
                           NextToken="garbage")
    assert _code(exc) == "InvalidNextToken"
    with pytest.raises(ClientError) as exc:
        cw.get_metric_data(MetricDataQueries=[{"Id": "x", "Expression": "nope + 1"}],
                           StartTime=start, EndTime=start + timedelta(minutes=5))
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        cw.get_metric_data(MetricDataQueries=[{"Id": "Bad", "Expression": "1"}],
                           StartTime=start, EndTime=start + timedelta(minutes=5))
    assert _code(exc) == "ValidationError"


def test_list_metrics_filters_and_paging(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    ns = _ns()
    data = [{"MetricName": f"M{i % 3}", "Dimensions": [{"Name": "N", "Value": str(i)}],
             "Value": 1.0} for i in range(600)]
    for i in range(0, 600, 300):
        cw.put_metric_data(Namespace=ns, MetricData=data[i:i + 300])
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace=ns))
    assert len(pages) == 2
    assert sum(len(p["Metrics"]) for p in pages) == 600
    one = cw.list_metrics(Namespace=ns, MetricName="M1",
                          Dimensions=[{"Name": "N", "Value": "4"}])["Metrics"]
    assert one == [{"Namespace": ns, "MetricName": "M1",
                    "Dimensions": [{"Name": "N", "Value": "4"}]}]
    assert len(cw.list_metrics(Namespace=ns, MetricName="M2",
                               Dimensions=[{"Name": "N"}])["Metrics"]) == 200
    assert len(cw.list_metrics(Namespace=ns, MetricName="M2",
                               RecentlyActive="PT3H")["Metrics"]) == 200
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Other"}])["Metrics"] == []


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3")
def test_aws_cli_put_and_get(cloud: LiveCloud) -> None:
    ns = _ns()
    cloud.aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name", "Cli",
              "--value", "42", "--unit", "Count")
    out = cloud.aws("cloudwatch", "list-metrics", "--namespace", ns)
    assert json.loads(out.stdout)["Metrics"][0]["MetricName"] == "Cli"
    end = datetime.now(UTC) + timedelta(minutes=1)
    stats = cloud.aws("cloudwatch", "get-metric-statistics", "--namespace", ns,
                      "--metric-name", "Cli", "--start-time",
                      (end - timedelta(minutes=10)).isoformat(), "--end-time", end.isoformat(),
                      "--period", "60", "--statistics", "Maximum")
    assert json.loads(stats.stdout)["Datapoints"][0]["Maximum"] == 42.0


def test_the_shared_scenario(cloud: LiveCloud) -> None:
    from tests.api import cloudwatch_scenario

    cloudwatch_scenario.check(cloudwatch_scenario.run(cloud))


def _loose_points(cloud: LiveCloud, ns: str, names: list[str], before: float) -> int:
    """Buckets of ``ns`` still kept as rows (not compacted) older than ``before``, and
    every row of the ingest log (not yet drained into rows: any metric's)."""
    from sqlalchemy import bindparam, create_engine, text

    from cloudctl.db.engine import sync_url
    from cloudctl.services.cloudwatch.series import metric_key

    url = cloud.database_url or f"sqlite+aiosqlite:///{cloud.data_dir / 'cloud.db'}"
    keys = [metric_key(cloud.account_id, cloud.region, ns, name, ()) for name in names]
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM cw_fresh WHERE metric_key IN :keys AND ts < :before "
                "AND resolution IN (1, 60)").bindparams(bindparam("keys", expanding=True)),
                {"keys": keys, "before": int(before)}).scalar_one()) + \
                int(conn.execute(text("SELECT count(*) FROM cw_ingest")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.sqlite_only("the controller's schedule; the SQL of compaction runs on both "
                         "databases in test_compaction_keeps_every_answer")
def test_compaction_runs_on_its_own_interval(cloud: LiveCloud) -> None:
    """Compaction runs every ``cloudwatch.compaction_interval_sec`` on its own timer, not
    only when the alarm evaluation round (here ten minutes) comes: closed buckets written
    after one compaction are compacted by the next within the interval. (Before, a
    compaction not yet due was skipped until the next evaluation round: an interval
    change that came less than an interval after the last compaction waited a round.)"""
    ns = _ns()
    cw = cloud.client("cloudwatch")
    cloud.set_properties("cloudwatch.alarm_evaluation_interval_sec=600",
                         "cloudwatch.compaction_interval_sec=2")
    try:
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        for back in (12, 11):  # closed minutes, written one after the other compaction
            at = minute - timedelta(minutes=back)
            cw.put_metric_data(Namespace=ns, MetricData=[
                {"MetricName": "C", "Timestamp": at, "Value": float(back)}])
            wait_for(lambda: _loose_points(cloud, ns, ["C"], minute.timestamp()) == 0, 15,
                     f"compaction of the minute {back} minutes back")
    finally:
        cloud.set_properties("cloudwatch.alarm_evaluation_interval_sec=60",
                             "cloudwatch.compaction_interval_sec=60")
    got = cw.get_metric_statistics(Namespace=ns, MetricName="C",
                                   StartTime=minute - timedelta(minutes=12), EndTime=minute,
                                   Period=60, Statistics=["Sum"])["Datapoints"]
    assert sorted(p["Sum"] for p in got) == [11.0, 12.0]


def test_compaction_keeps_every_answer(cloud: LiveCloud) -> None:
    """Closed buckets compacted into packed blocks (and rolled up into the 5-minute and
    1-hour levels) by the controller: every statistic,
    percentile and metric-math answer of the shared workload is unchanged, and data
    arriving later for a compacted minute merges with it."""
    from tests.api import cloudwatch_scenario

    ns, base = cloudwatch_scenario.publish(cloud)
    before = cloudwatch_scenario.read(cloud, ns, base)
    cloudwatch_scenario.check(before)
    names = ["Lat", "Req", "Fast"]
    old = (base + timedelta(minutes=12)).timestamp()
    assert _loose_points(cloud, ns, names, old) > 0
    cloud.set_properties("cloudwatch.compaction_interval_sec=1")  # wakes it
    try:
        wait_for(lambda: _loose_points(cloud, ns, names, old) == 0, 60, "compaction")
    finally:
        cloud.set_properties("cloudwatch.compaction_interval_sec=60")
    assert cloudwatch_scenario.read(cloud, ns, base) == before
    cw = cloud.client("cloudwatch")
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Lat", "Timestamp": base, "Value": 1000.0, "Unit": "Milliseconds"}])
    window = {"Namespace": ns, "MetricName": "Lat", "StartTime": base,
              "EndTime": base + timedelta(minutes=1), "Period": 60}
    point = cw.get_metric_statistics(**window, Statistics=["SampleCount", "Maximum"],
                                     )["Datapoints"][0]
    assert (point["SampleCount"], point["Maximum"]) == (9.0, 1000.0)
    pct = cw.get_metric_statistics(**window, ExtendedStatistics=["p100", "p50"])
    assert pct["Datapoints"][0]["ExtendedStatistics"] == {"p100": 1000.0, "p50": 1.0}
    data = cw.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": {
        "Metric": {"Namespace": ns, "MetricName": "Lat"}, "Period": 60, "Stat": "Maximum"}}],
        StartTime=base, EndTime=base + timedelta(minutes=2), ScanBy="TimestampAscending")
    assert data["MetricDataResults"][0]["Values"][0] == 1000.0
