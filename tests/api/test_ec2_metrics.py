"""AWS/EC2 and AWS/EBS metrics collected from the (fake) node, read through boto3 and
``cloudctl metrics``; MonitorInstances/UnmonitorInstances and the Monitoring state.

The shipped fake driver's guests work at ``GuestLoad()``: 2 % of a vcpu, 2000 B/s in
and 1000 B/s out in 500-byte packets, 4 KiB/s read and 8 KiB/s written in 4 KiB
requests. The collection periods are shortened through their properties (1 s
detailed, 3 s basic: values below 60 s are for tests only; the waits below count
samples, so they last a few periods whatever the period).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.support import LiveCloud


@pytest.fixture(scope="module")
def fast(sqlite_cloud: LiveCloud) -> Any:
    sqlite_cloud.set_properties("cloud.monitoring.detailed_period_sec=1",
                                "cloud.monitoring.basic_period_sec=3")
    yield sqlite_cloud
    sqlite_cloud.reset_properties("cloud.monitoring.detailed_period_sec",
                                  "cloud.monitoring.basic_period_sec")


def _stats(cw: Any, name: str, dims: list[dict[str, str]], namespace: str = "AWS/EC2",
           statistics: tuple[str, ...] = ("Average", "Sum", "SampleCount", "Maximum")
           ) -> dict[str, float]:
    """Every datapoint of the last ten minutes merged: sum, count, average, maximum."""
    now = datetime.now(UTC)
    got = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims,
                                   StartTime=now - timedelta(minutes=10),
                                   EndTime=now + timedelta(minutes=1), Period=60,
                                   Statistics=list(statistics))["Datapoints"]
    total = sum(p["Sum"] for p in got)
    count = sum(p["SampleCount"] for p in got)
    return {"Sum": total, "SampleCount": count, "Average": total / count if count else 0.0,
            "Maximum": max((p["Maximum"] for p in got), default=0.0)}


def _names(cw: Any, namespace: str, dims: list[dict[str, str]]) -> set[str]:
    pages = cw.get_paginator("list_metrics").paginate(Namespace=namespace, Dimensions=dims)
    return {m["MetricName"] for page in pages for m in page["Metrics"]}


def test_instance_and_volume_metrics_from_the_node(fast: LiveCloud, tmp_path: Path) -> None:
    cloud = fast
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    images = register_image_set(cloud, tmp_path / "m")
    run = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                            InstanceType="t1.micro", Monitoring={"Enabled": True})
    detailed = run["Instances"][0]["InstanceId"]
    assert run["Instances"][0]["Monitoring"] == {"State": "enabled"}
    basic = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                              InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    wait_for(lambda: set(states(cloud, [detailed, basic]).values()) == {"running"})
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    vid = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    wait_for(lambda: ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available")
    ec2.attach_volume(VolumeId=vid, InstanceId=detailed, Device="/dev/sdf")
    mine = [{"Name": "InstanceId", "Value": detailed}]
    wanted = {"CPUUtilization", "NetworkIn", "NetworkOut", "NetworkPacketsIn",
              "NetworkPacketsOut", "DiskReadBytes", "DiskWriteBytes", "DiskReadOps",
              "DiskWriteOps", "StatusCheckFailed", "StatusCheckFailed_Instance",
              "StatusCheckFailed_System"}
    wait_for(lambda: wanted <= _names(cw, "AWS/EC2", mine), 60)
    wait_for(lambda: _stats(cw, "VolumeWriteBytes", [{"Name": "VolumeId", "Value": vid}],
                            "AWS/EBS")["Sum"] > 0, 60)
    cpu = _stats(cw, "CPUUtilization", mine)
    assert cpu["Average"] == pytest.approx(2.0, abs=0.5)  # the fake's 2 % of one vcpu
    # read the three together, again if a sample landed between the reads; the node's
    # counters are whole numbers, so their sums telescope to within one of the exact rate
    for _ in range(5):
        net_in, net_out, packets = (_stats(cw, n, mine) for n in (
            "NetworkIn", "NetworkOut", "NetworkPacketsIn"))
        if net_in["SampleCount"] == net_out["SampleCount"] == packets["SampleCount"]:
            break
    assert net_in["Sum"] > 0 and net_in["Sum"] == pytest.approx(2 * net_out["Sum"], abs=3.0)
    assert packets["Sum"] == pytest.approx(net_in["Sum"] / 500, abs=1.0)
    assert _stats(cw, "StatusCheckFailed", mine)["Maximum"] == 0.0
    # the volume's reads and writes are in AWS/EBS, with idle time and queue length
    ebs = [{"Name": "VolumeId", "Value": vid}]
    assert {"VolumeReadBytes", "VolumeWriteBytes", "VolumeReadOps", "VolumeWriteOps",
            "VolumeIdleTime", "VolumeQueueLength"} <= _names(cw, "AWS/EBS", ebs)
    reads, writes = _stats(cw, "VolumeReadBytes", ebs, "AWS/EBS"), _stats(
        cw, "VolumeWriteBytes", ebs, "AWS/EBS")
    assert writes["Sum"] > reads["Sum"] > 0
    # every dimension set AWS publishes, the aggregate (no dimension) included
    for dims in ([{"Name": "ImageId", "Value": images["emi"]}],
                 [{"Name": "InstanceType", "Value": "t1.micro"}]):
        assert "CPUUtilization" in _names(cw, "AWS/EC2", dims)
    everything = cw.list_metrics(Namespace="AWS/EC2", MetricName="CPUUtilization")["Metrics"]
    assert {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization", "Dimensions": []} in [
        {k: m[k] for k in ("Namespace", "MetricName", "Dimensions")} for m in everything]
    # detailed monitoring samples three times as often as basic (1 s against 3 s here)
    wait_for(lambda: "CPUUtilization" in _names(cw, "AWS/EC2",
                                                [{"Name": "InstanceId", "Value": basic}]), 60)
    wait_for(lambda: _stats(cw, "CPUUtilization",
                            [{"Name": "InstanceId", "Value": basic}])["SampleCount"] >= 3, 60)
    fine = _stats(cw, "CPUUtilization", mine)["SampleCount"]
    coarse = _stats(cw, "CPUUtilization", [{"Name": "InstanceId", "Value": basic}])["SampleCount"]
    assert fine > 1.8 * coarse
    status = ec2.describe_instance_status(InstanceIds=[detailed])["InstanceStatuses"][0]
    assert status["InstanceStatus"] == {"Status": "ok", "Details": [
        {"Name": "reachability", "Status": "passed"}]}
    assert status["SystemStatus"]["Status"] == "ok"


def test_multi_attach_volume_metrics_count_every_instance(fast: LiveCloud,
                                                          tmp_path: Path) -> None:
    """A Multi-Attach (io2) volume's AWS/EBS metrics aggregate its attached instances'
    I/O, as AWS's: attached to two guests it reads as twice a volume attached to one
    (the three guests do the same work over the same disk layout)."""
    cloud = fast
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    images = register_image_set(cloud, tmp_path / "m")
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=images["emi"], MinCount=3, MaxCount=3, InstanceType="t1.micro",
        Monitoring={"Enabled": True})["Instances"]]
    wait_for(lambda: set(states(cloud, ids).values()) == {"running"})
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    shared = ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="io2", Iops=100,
                               MultiAttachEnabled=True)["VolumeId"]
    single = ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="io2",
                               Iops=100)["VolumeId"]
    wait_for(lambda: {v["State"] for v in ec2.describe_volumes(
        VolumeIds=[shared, single])["Volumes"]} == {"available"})
    for iid in ids[:2]:
        ec2.attach_volume(VolumeId=shared, InstanceId=iid, Device="/dev/sdf")
    ec2.attach_volume(VolumeId=single, InstanceId=ids[2], Device="/dev/sdf")
    wait_for(lambda: {a["State"] for v in ec2.describe_volumes(
        VolumeIds=[shared, single])["Volumes"] for a in v["Attachments"]} == {"attached"})
    many = [{"Name": "VolumeId", "Value": shared}]
    one = [{"Name": "VolumeId", "Value": single}]
    wait_for(lambda: _stats(cw, "VolumeWriteBytes", one, "AWS/EBS")["SampleCount"] >= 8, 90)
    assert {"VolumeReadBytes", "VolumeWriteBytes", "VolumeReadOps", "VolumeWriteOps",
            "VolumeIdleTime", "VolumeQueueLength"} <= _names(cw, "AWS/EBS", many)
    for name in ("VolumeWriteBytes", "VolumeReadOps"):
        both = _stats(cw, name, many, "AWS/EBS")["Sum"]
        alone = _stats(cw, name, one, "AWS/EBS")["Sum"]
        assert 1.6 * alone < both < 2.6 * alone, (name, both, alone)


def test_monitor_and_unmonitor_instances(sqlite_cloud: LiveCloud, tmp_path: Path) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    images = register_image_set(cloud, tmp_path / "mon")
    iid = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                            InstanceType="t1.micro")["Instances"][0]["InstanceId"]

    def monitoring() -> str:
        out = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return str(out["Monitoring"]["State"])

    assert monitoring() == "disabled"
    got = ec2.monitor_instances(InstanceIds=[iid])["InstanceMonitorings"]
    assert got == [{"InstanceId": iid, "Monitoring": {"State": "pending"}}]
    assert monitoring() == "enabled"
    got = ec2.unmonitor_instances(InstanceIds=[iid])["InstanceMonitorings"]
    assert got == [{"InstanceId": iid, "Monitoring": {"State": "disabling"}}]
    assert monitoring() == "disabled"
    with pytest.raises(ClientError) as err:
        ec2.monitor_instances(InstanceIds=["i-0123456789abcdef0"])
    assert err.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.monitor_instances(InstanceIds=["nonsense"])
    assert err.value.response["Error"]["Code"] == "InvalidInstanceID.Malformed"
    # the AWS CLI says the same
    out = json.loads(cloud.aws("ec2", "monitor-instances", "--instance-ids", iid).stdout)
    assert out["InstanceMonitorings"][0]["Monitoring"]["State"] == "pending"
    ec2.monitor_instances(InstanceIds=[iid])
    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(lambda: states(cloud, [iid])[iid] == "terminated", 30)
    with pytest.raises(ClientError) as err:
        ec2.monitor_instances(InstanceIds=[iid])
    assert err.value.response["Error"]["Code"] == "IncorrectInstanceState"


def test_cloudctl_metrics_lists_and_charts(fast: LiveCloud, tmp_path: Path) -> None:
    cloud = fast
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    images = register_image_set(cloud, tmp_path / "cli")
    iid = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                            InstanceType="t1.micro",
                            Monitoring={"Enabled": True})["Instances"][0]["InstanceId"]
    dims = [{"Name": "InstanceId", "Value": iid}]
    wait_for(lambda: "CPUUtilization" in _names(cw, "AWS/EC2", dims), 60)
    listed = json.loads(cloud.cli("metrics", "list", "--namespace", "AWS/EC2",
                                  "--dimension", f"InstanceId={iid}", "--output", "json").stdout)
    assert "CPUUtilization" in {m["MetricName"] for m in listed}
    text = cloud.cli("metrics", "list", "--namespace", "AWS/EC2", "--name", "CPUUtilization",
                     "--dimension", f"InstanceId={iid}").stdout
    assert f"METRIC\tAWS/EC2\tCPUUtilization\tInstanceId={iid}" in text
    shown = json.loads(cloud.cli("metrics", "show", "AWS/EC2", "CPUUtilization", "--dimension",
                                 f"InstanceId={iid}", "--period", "60", "--minutes", "10",
                                 "--output", "json").stdout)
    assert shown["Datapoints"] and shown["Statistic"] == "Average"
    chart = cloud.cli("metrics", "show", "AWS/EC2", "CPUUtilization", "--dimension",
                      f"InstanceId={iid}", "--period", "60", "--minutes", "10").stdout
    first, second = chart.splitlines()[:2]
    assert first.startswith(f"AWS/EC2 CPUUtilization InstanceId={iid} Average per 60s")
    assert any(c in second for c in "▁▂▃▄▅▆▇█") and "Percent" in second
    ec2.terminate_instances(InstanceIds=[iid])


def test_kill_9_and_restart_make_no_negative_or_huge_points(crash_shared: LiveCloud,
                                                            tmp_path: Path) -> None:
    """The cloud (collector and its in-process fake node) dies with kill -9 and starts
    again: the node's counters restart from zero and the collector has no baseline, yet
    no datapoint is negative or larger than the fake's rates allow. (On the shared kill
    -9 cloud of tests/api/conftest.py.)"""
    import signal

    cloud = crash_shared
    cloud.set_properties("cloud.monitoring.detailed_period_sec=1")
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    images = register_image_set(cloud, tmp_path / "rs")
    iid = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1,
                            InstanceType="t1.micro",
                            Monitoring={"Enabled": True})["Instances"][0]["InstanceId"]
    mine = [{"Name": "InstanceId", "Value": iid}]
    wait_for(lambda: _stats(cw, "NetworkIn", mine)["SampleCount"] >= 3, 60)
    before = _stats(cw, "NetworkIn", mine)["SampleCount"]
    cloud.stop(signal.SIGKILL)
    cloud.start()
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    wait_for(lambda: _stats(cw, "NetworkIn", mine)["SampleCount"] >= before + 3, 90)
    now = datetime.now(UTC)
    # an interval is at most two periods and a sample (3 s here): a second's slack
    for name, low, high in (("NetworkIn", 0.0, 2000.0 * 4), ("CPUUtilization", 0.0, 100.0),
                            ("DiskWriteBytes", 0.0, 8192.0 * 4)):
        got = cw.get_metric_statistics(
            Namespace="AWS/EC2", MetricName=name, Dimensions=mine,
            StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
            Period=60, Statistics=["Minimum", "Maximum"])["Datapoints"]
        assert got
        assert min(p["Minimum"] for p in got) >= low, name
        assert max(p["Maximum"] for p in got) <= high, name
    ec2.terminate_instances(InstanceIds=[iid])  # the kill -9 cloud is shared
    cloud.reset_properties("cloud.monitoring.detailed_period_sec")
