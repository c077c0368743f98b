"""CloudWatch metrics of REAL guests (QEMU TCG on the private libvirtd), read with boto3.

One test, one boot of two tiny guests with detailed monitoring. The busy one boots
from EBS (a root volume made from a snapshot of the tiny root file system): it runs
``yes > /dev/null`` from its user data, then writes 16 MiB to its root volume and
downloads its own (padded) user data 40 times from the metadata service. The idle one
boots from its instance store and only writes 16 MiB to its root disk once, after two
periods. The busy guest's ``CPUUtilization`` reaches ~100 within two periods while the
idle one stays near 0; ``NetworkIn`` counts what the busy guest downloaded, the busy
guest's root volume writes are AWS/EBS ``VolumeWriteBytes``, and the idle guest's
instance-store writes are ``DiskWriteBytes``. Pausing the idle guest fails its
instance status check (DescribeInstanceStatus ``impaired``,
``StatusCheckFailed_Instance`` 1); resuming it passes again.

Then an alarm with an EC2 stop action is put on the busy (EBS-backed) guest: the
alarm goes to ALARM, the action stops the real guest, and with the guest stopped (no
data, ``notBreaching``) the alarm returns to OK, all in its history. Its return to OK
needs a whole minute without data, so the idle guest's status checks run meanwhile.

(These were two tests, each booting its own cloud and guests; one boot serves both.)

The detailed period is shortened to 15 s through ``cloud.monitoring.detailed_period_sec``
(below 60 s is for tests only) so the test stays short.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support import LiveCloud, console_text, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root"),
]

PERIOD = 15
PAD = "#" + "x" * 8190 + "\n"  # every download of the user data moves ~8 KiB
BUSY = f"""#!/bin/sh
{PAD}yes > /dev/null &
(
  sleep {2 * PERIOD}
  dd if=/dev/zero of=/root/blob bs=64k count=256 conv=fsync 2>/dev/null
  sync
  for i in $(seq 1 40); do
    timeout 5 wget -q -O /dev/null http://169.254.169.254/latest/user-data
  done
  echo "data-moved"
) > /dev/console 2>&1 &
"""
# the idle guest: one write of 16 MiB to its instance-store root disk, then nothing
IDLE = f"""#!/bin/sh
(
  sleep {2 * PERIOD}
  dd if=/dev/zero of=/root/blob bs=64k count=256 conv=fsync 2>/dev/null
  sync
  echo "idle-wrote"
) > /dev/console 2>&1 &
"""


def _points(cw: Any, name: str, iid: str, stat: str, since: datetime) -> list[float]:
    got = cw.get_metric_statistics(
        Namespace="AWS/EC2", MetricName=name,
        Dimensions=[{"Name": "InstanceId", "Value": iid}], StartTime=since - timedelta(minutes=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=1), Period=60, Statistics=[stat])
    return [float(p[stat]) for p in sorted(got["Datapoints"], key=lambda p: p["Timestamp"])]


def _console(ec2: Any, iid: str) -> str:
    return console_text(ec2.get_console_output(InstanceId=iid))


def test_busy_ebs_and_idle_guests_metrics_status_checks_and_a_stop_alarm(
        libvirt_cloud: LiveCloud, tiny_image: Any, private_libvirtd: Any) -> None:
    import libvirt

    from tests.integration.test_compute_ebs import fill_volume

    cloud = libvirt_cloud
    cloud.set_properties(f"cloud.monitoring.detailed_period_sec={PERIOD}",
                         "cloudwatch.alarm_evaluation_interval_sec=10")
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    eki = ec2.register_image(Name="cw-k", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="cw-r", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="cw-m", ImageLocation=str(tiny_image.rootfs), KernelId=eki,
                             RamdiskId=eri)["ImageId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    source = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    wait_for(lambda: ec2.describe_volumes(VolumeIds=[source])["Volumes"][0]["State"]
             == "available", 60, "the source volume")
    fill_volume(cloud.data_dir, source, tiny_image.rootfs)
    snap = ec2.create_snapshot(VolumeId=source)["SnapshotId"]
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
             == "completed", 120, "the snapshot")
    ebs_emi = ec2.register_image(Name="cw-ebs", RootDeviceName="/dev/sda1", KernelId=eki,
                                 RamdiskId=eri, BlockDeviceMappings=[
                                     {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}])[
        "ImageId"]
    since = datetime.now(UTC)
    busy, idle = (ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    InstanceType="t1.micro", Monitoring={"Enabled": True},
                                    UserData=data)["Instances"][0]["InstanceId"]
                  for image, data in ((ebs_emi, BUSY), (emi, IDLE)))

    def states() -> dict[str, str]:
        out = ec2.describe_instances(InstanceIds=[busy, idle])["Reservations"]
        return {i["InstanceId"]: i["State"]["Name"] for r in out for i in r["Instances"]}

    wait_for(lambda: set(states().values()) == {"running"}, 180, "both running")
    root = ec2.describe_instances(InstanceIds=[busy])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    wait_for(lambda: "user-data ran" in _console(ec2, busy), 180, "the busy user data")
    busy_at = time.monotonic()
    # near 100 within two periods (and the collection pass that follows them)
    wait_for(lambda: max(_points(cw, "CPUUtilization", busy, "Maximum", since),
                         default=0.0) >= 80.0, 3 * PERIOD + 30, "CPUUtilization >= 80")
    print(f"busy guest at >= 80 % after {time.monotonic() - busy_at:.0f}s")
    wait_for(lambda: len(_points(cw, "CPUUtilization", idle, "Average", since)) >= 1, 60,
             "the idle guest's CPUUtilization")

    def idle_sample() -> list[float] | None:
        got = _points(cw, "CPUUtilization", idle, "Minimum", since)
        return got if got and min(got) <= 15.0 else None

    # an idle sample once the boot is over: a few more periods at most
    idle_recent = wait_for(idle_sample, 6 * PERIOD + 30, "an idle CPUUtilization <= 15 %")
    assert min(idle_recent) <= 15.0, idle_recent
    assert max(_points(cw, "StatusCheckFailed", busy, "Maximum", since)) == 0.0

    # the busy guest moved data: 16 MiB to its root volume (AWS/EBS, not Disk*: the
    # instance metrics count instance-store disks), 40 x 8 KiB from the metadata service;
    # the idle guest wrote 16 MiB to its instance-store root disk
    wait_for(lambda: "data-moved" in _console(ec2, busy), 240, "the data moved")
    wait_for(lambda: "idle-wrote" in _console(ec2, idle), 120, "the idle guest's write")

    def moved(name: str, iid: str = busy) -> float:
        return sum(_points(cw, name, iid, "Sum", since))

    def ebs_written() -> float:
        wrote = cw.get_metric_statistics(
            Namespace="AWS/EBS", MetricName="VolumeWriteBytes",
            Dimensions=[{"Name": "VolumeId", "Value": root}], StartTime=since,
            EndTime=datetime.now(UTC) + timedelta(minutes=1), Period=60, Statistics=["Sum"])
        return float(sum(p["Sum"] for p in wrote["Datapoints"]))

    # the samples of the next collection passes (each reads every counter at once)
    wait_for(lambda: ebs_written() >= 16 * 2**20, 3 * PERIOD + 30, "the root volume's writes")
    wait_for(lambda: moved("DiskWriteBytes", idle) >= 16 * 1024 * 1024, 4 * PERIOD + 60,
             "16 MiB of DiskWriteBytes")
    wait_for(lambda: moved("NetworkIn") >= 40 * 8192, 4 * PERIOD + 60, "320 KiB of NetworkIn")
    assert moved("NetworkOut") > 0 and moved("NetworkPacketsIn") >= 40
    assert moved("DiskWriteOps", idle) > 0
    assert moved("NetworkIn", idle) < moved("NetworkIn") / 4

    # an alarm whose action stops the busy EBS-backed guest; back to OK takes a whole
    # minute without data after the stop, so the idle guest's status checks go on
    # meanwhile
    cw.put_metric_alarm(
        AlarmName=f"busy-{busy}", Namespace="AWS/EC2", MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": busy}], Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=50.0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[f"arn:aws:automate:{cloud.region}:ec2:stop"])

    def alarm_state() -> str:
        return str(cw.describe_alarms(AlarmNames=[f"busy-{busy}"])["MetricAlarms"][0][
            "StateValue"])

    wait_for(lambda: alarm_state() == "ALARM", 4 * 60, "the alarm in ALARM")
    wait_for(lambda: states()[busy] == "stopped", 120, "the stop action")
    conn = libvirt.open(private_libvirtd.uri)
    try:
        assert not conn.lookupByName(busy).isActive()  # the real guest is off
    finally:
        conn.close()

    # a paused guest fails its instance check; resumed, it passes again
    conn = libvirt.open(private_libvirtd.uri)
    try:
        dom = conn.lookupByName(idle)
        dom.suspend()

        def status() -> dict[str, Any]:
            got: dict[str, Any] = ec2.describe_instance_status(
                InstanceIds=[idle])["InstanceStatuses"][0]
            return got

        wait_for(lambda: status()["InstanceStatus"]["Status"] == "impaired", 3 * PERIOD,
                 "impaired")
        impaired = status()
        assert impaired["InstanceStatus"]["Details"][0]["Status"] == "failed"
        assert "ImpairedSince" in impaired["InstanceStatus"]["Details"][0]
        assert impaired["SystemStatus"]["Status"] == "ok"
        listed = ec2.describe_instance_status(Filters=[
            {"Name": "instance-status.status", "Values": ["impaired"]}])["InstanceStatuses"]
        assert [s["InstanceId"] for s in listed] == [idle]
        wait_for(lambda: max(_points(cw, "StatusCheckFailed_Instance", idle, "Maximum", since),
                             default=0.0) == 1.0, 2 * PERIOD, "StatusCheckFailed_Instance")
        dom.resume()
        wait_for(lambda: status()["InstanceStatus"]["Status"] == "ok", 3 * PERIOD, "ok again")
    finally:
        conn.close()

    assert states()[idle] == "running"  # the action stopped the alarm's instance only
    wait_for(lambda: alarm_state() == "OK", 4 * 60, "the alarm back to OK")
    history = cw.describe_alarm_history(AlarmName=f"busy-{busy}")["AlarmHistoryItems"]
    summaries = " | ".join(h["HistorySummary"] for h in history)
    assert "to ALARM" in summaries and "to OK" in summaries, summaries
    assert any(h["HistoryItemType"] == "Action" for h in history), summaries
    ec2.terminate_instances(InstanceIds=[busy, idle])
    # the next test on the shared libvirt cloud sees the defaults again
    cloud.reset_properties("cloud.monitoring.detailed_period_sec",
                           "cloudwatch.alarm_evaluation_interval_sec")
