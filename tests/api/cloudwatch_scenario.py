"""One CloudWatch workload and its expected answers, run against every metric store
(embedded on SQLite and PostgreSQL, Cassandra): the same queries must give the same
answers everywhere."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import LiveCloud

STATS = ["SampleCount", "Sum", "Minimum", "Maximum", "Average"]


def run(cloud: LiveCloud) -> dict[str, Any]:
    """Publish the workload into a fresh namespace and read it back (normalised)."""
    return read(cloud, *publish(cloud))


def publish(cloud: LiveCloud) -> tuple[str, datetime]:
    """The workload in a fresh namespace: the namespace and the workload's start."""
    cw = cloud.client("cloudwatch")
    ns = f"Scenario/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    base = now.replace(minute=now.minute - now.minute % 5) - timedelta(minutes=20)
    data: list[dict[str, Any]] = []
    for i in range(15):
        at = base + timedelta(minutes=i)
        data.append({"MetricName": "Lat", "Timestamp": at, "Values": [i, i + 1.0, 100.0],
                     "Counts": [2.0, 1.0, 1.0], "Unit": "Milliseconds"})
        data.append({"MetricName": "Req", "Timestamp": at, "Unit": "Count",
                     "StatisticValues": {"SampleCount": 4, "Sum": 4.0 * i, "Minimum": 0,
                                         "Maximum": 2.0 * i}})
        data.append({"MetricName": "Fast", "Timestamp": at + timedelta(seconds=i),
                     "Value": float(i), "StorageResolution": 1})
    cw.put_metric_data(Namespace=ns, MetricData=data)
    cw.put_metric_data(Namespace=ns, MetricData=data[:3])  # merged into the same buckets
    return ns, base


def read(cloud: LiveCloud, ns: str, base: datetime) -> dict[str, Any]:
    """The workload's answers (normalised)."""
    cw = cloud.client("cloudwatch")
    out: dict[str, Any] = {}
    # the 5-minute and 1-hour periods read the coarse levels: rolled up at ingest on
    # Cassandra, at compaction on the embedded store (which folds in the finer rows not
    # yet rolled up): the same answers either way
    for name, period in (("Lat", 60), ("Lat", 300), ("Lat", 3600), ("Req", 60),
                         ("Req", 300), ("Fast", 1), ("Fast", 60), ("Fast", 300),
                         ("Fast", 3600)):
        got = cw.get_metric_statistics(Namespace=ns, MetricName=name, StartTime=base,
                                       EndTime=base + timedelta(minutes=15), Period=period,
                                       Statistics=STATS)
        out[f"{name}/{period}"] = sorted(
            [(p["Timestamp"] - base).total_seconds(), *(p[s] for s in STATS)]
            for p in got["Datapoints"])
        pct = cw.get_metric_statistics(Namespace=ns, MetricName=name, StartTime=base,
                                       EndTime=base + timedelta(minutes=15), Period=period,
                                       ExtendedStatistics=["p50", "p90"])
        out[f"{name}/{period}/pct"] = sorted(
            [(p["Timestamp"] - base).total_seconds(),
             *sorted((p.get("ExtendedStatistics") or {}).items())] for p in pct["Datapoints"])

    def stat(qid: str, name: str, s: str) -> dict[str, Any]:
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": name},
                                          "Period": 60, "Stat": s}, "ReturnData": False}

    got = cw.get_metric_data(MetricDataQueries=[
        stat("lat", "Lat", "Average"), stat("req", "Req", "Sum"),
        {"Id": "ratio", "Expression": "req / lat"},
        {"Id": "rate", "Expression": "RATE(req)"},
        {"Id": "total", "Expression": "SUM(METRICS())"}],
        StartTime=base, EndTime=base + timedelta(minutes=15), ScanBy="TimestampAscending")
    out["math"] = {r["Id"]: [round(v, 9) for v in r["Values"]]
                   for r in got["MetricDataResults"]}
    for period in (300, 3600):  # metric stats only: the store's array path
        got = cw.get_metric_data(MetricDataQueries=[
            {"Id": f"{name.lower()}{s.lower()}", "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": name}, "Period": period,
                "Stat": s}} for name in ("Lat", "Fast") for s in ("Sum", "Maximum")],
            StartTime=base, EndTime=base + timedelta(minutes=15),
            ScanBy="TimestampAscending")
        out[f"stats/{period}"] = {r["Id"]: list(zip(
            [(t - base).total_seconds() for t in r["Timestamps"]], r["Values"],
            strict=True)) for r in got["MetricDataResults"]}
    return out


def check(result: dict[str, Any]) -> None:
    """The answers AWS's semantics give for the workload."""
    lat0 = result["Lat/60"][0]
    # minute 0 was published twice: 2 x (0, 0, 1, 100)
    assert lat0[1:] == [8.0, 202.0, 0.0, 100.0, 202.0 / 8]
    assert len(result["Lat/60"]) == 15 and len(result["Lat/300"]) == 3
    assert result["Lat/300"][0][1] == 8.0 + 4 * 4  # minutes 0 (twice) to 4
    assert result["Req/60"][1][1:] == [4.0, 4.0, 0.0, 2.0, 1.0]
    # statistic sets give percentiles only when every sample is equal (minute 0: all 0)
    assert [p for p in result["Req/60/pct"] if len(p) > 1] == [[0.0, ("p50", 0.0),
                                                                ("p90", 0.0)]]
    assert result["Lat/60/pct"][1] == [60.0, ("p50", 1.0), ("p90", 100.0)]
    assert len(result["Fast/1"]) == 15 and len(result["Fast/60"]) == 15
    assert result["math"]["rate"][:2] == [round(4 / 60, 9), round(4 / 60, 9)]
    assert len(result["math"]["ratio"]) == 15
    for name in ("Lat", "Req", "Fast"):  # every sample in the coarser periods too
        total = sum(p[1] for p in result[f"{name}/60"])
        assert sum(p[1] for p in result[f"{name}/300"]) == total
        if name != "Req":
            assert sum(p[1] for p in result[f"{name}/3600"]) == total
    assert len(result["Fast/300"]) == 3 and result["Fast/300"][0][4] == 4.0
    fast_sums = [p[2] for p in result["Fast/300"]]
    assert [v for _, v in result["stats/300"]["fastsum"]] == fast_sums
    assert sum(v for _, v in result["stats/3600"]["latsum"]) == \
        sum(p[2] for p in result["Lat/60"])
