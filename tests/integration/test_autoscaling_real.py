"""Auto Scaling with REAL guests (QEMU TCG on private libvirtds): a group of two tiny
guests across two zones on two hypervisor hosts (``two_host_cloud``); ``virsh destroy``
of one (libvirt's destroy of its domain) and the group replaces it in its zone,
recording the termination with AWS's cause; the other guest is untouched. A busy guest
scales its group out through a CPU alarm."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.support import LiveCloud, wait_for

libvirt = pytest.importorskip("libvirt")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("libvirtd") is None or os.geteuid() != 0,
                       reason="needs libvirtd and root"),
]


def test_a_destroyed_guest_is_replaced(two_host_cloud: tuple[LiveCloud, Any],
                                       tiny_image: Any) -> None:
    """A group of two real guests across two zones on two hosts (one each, by the zone
    balance); the second host's guest destroyed through its libvirt (``virsh destroy``):
    the group replaces it in the same zone, on that host, and says why as AWS does."""
    cloud, second = two_host_cloud
    ec2 = cloud.client("ec2")
    asg = cloud.client("autoscaling")
    eki = ec2.register_image(Name="as-k", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="as-r", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="as-m", ImageLocation=str(tiny_image.rootfs), KernelId=eki,
                             RamdiskId=eri)["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="real", ImageId=emi,
                                    InstanceType="t1.micro")
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()[
        "AvailabilityZones"])
    assert len(zones) == 2, zones
    asg.create_auto_scaling_group(AutoScalingGroupName="real", MinSize=2, MaxSize=2,
                                  LaunchConfigurationName="real", AvailabilityZones=zones)

    def in_service() -> dict[str, str]:
        found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["real"])
        items = found["AutoScalingGroups"][0]["Instances"]
        ids = {i["InstanceId"]: i["AvailabilityZone"] for i in items
               if i["LifecycleState"] == "InService"}
        return ids if len(ids) == 2 and len(items) == 2 else {}

    first = wait_for(in_service, 240, "two real guests InService")
    by_zone = {zone: iid for iid, zone in first.items()}
    assert sorted(by_zone) == zones, first  # one in each zone
    # the second zone's guest runs on the second host
    victim, kept = by_zone[zones[1]], by_zone[zones[0]]
    wait_for(lambda: second.guests() == [victim], 120, f"{victim} on the second host")
    second.destroy_guest(victim)  # what `virsh destroy` does
    after = wait_for(lambda: (ids := in_service()) and victim not in ids and ids, 300,
                     "the destroyed guest replaced")
    assert kept in after
    (new,) = set(after) - {kept}
    assert after[new] == zones[1], after  # replaced in the same zone
    wait_for(lambda: second.guests() == [new], 120, f"{new} on the second host")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="real")["Activities"]
    assert any(a["Description"] == f"Terminating EC2 instance: {victim}" and
               "an EC2 health check indicating it has been terminated or stopped." in
               a["Cause"] for a in acts), acts
    asg.delete_auto_scaling_group(AutoScalingGroupName="real", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["real"])["AutoScalingGroups"], 240, "group deleted")
    wait_for(lambda: not second.guests(), 60, "no guest left on the second host")
    asg.delete_launch_configuration(LaunchConfigurationName="real")  # the world is shared


BUSY = "#!/bin/sh\nyes > /dev/null &\necho busy-started > /dev/console\n"


def test_busy_guest_scales_out_through_a_step_policy_on_a_cpu_alarm(
        libvirt_cloud: LiveCloud, tiny_image: Any) -> None:
    """The guest's CPU (published under AutoScalingGroupName by the collector, from the
    instance's aws:autoscaling:groupName tag) breaches the alarm, whose action runs the
    step policy: the group grows from 1 to 2 real guests."""
    cloud = libvirt_cloud
    cloud.set_properties("cloud.monitoring.detailed_period_sec=15",
                         "cloudwatch.alarm_evaluation_interval_sec=5")
    ec2 = cloud.client("ec2")
    asg = cloud.client("autoscaling")
    cw = cloud.client("cloudwatch")
    eki = ec2.register_image(Name="as-k2", ImageLocation=str(tiny_image.kernel))["ImageId"]
    eri = ec2.register_image(Name="as-r2", ImageLocation=str(tiny_image.ramdisk))["ImageId"]
    emi = ec2.register_image(Name="as-m2", ImageLocation=str(tiny_image.rootfs), KernelId=eki,
                             RamdiskId=eri)["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="busy", ImageId=emi,
                                    InstanceType="t1.micro", UserData=BUSY)
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    asg.create_auto_scaling_group(AutoScalingGroupName="busy", MinSize=1, MaxSize=2,
                                  LaunchConfigurationName="busy", AvailabilityZones=[zone])
    policy = asg.put_scaling_policy(
        AutoScalingGroupName="busy", PolicyName="cpu-up", PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        StepAdjustments=[{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}])["PolicyARN"]
    cw.put_metric_alarm(AlarmName="busy-cpu", Namespace="AWS/EC2",
                        MetricName="CPUUtilization", Statistic="Average", Period=60,
                        EvaluationPeriods=1, Threshold=50,
                        ComparisonOperator="GreaterThanThreshold",
                        Dimensions=[{"Name": "AutoScalingGroupName", "Value": "busy"}],
                        AlarmActions=[policy])

    def desired() -> int:
        return int(asg.describe_auto_scaling_groups(AutoScalingGroupNames=["busy"])[
            "AutoScalingGroups"][0]["DesiredCapacity"])

    wait_for(lambda: desired() == 2, 420, "the alarm scaled the group out")

    def launched_for_the_alarm() -> bool:
        # the launch's activity carries the cause; the group controller records it when it
        # launches, a pass after the policy changed the desired capacity
        acts = asg.describe_scaling_activities(AutoScalingGroupName="busy")["Activities"]
        return any("a monitor alarm busy-cpu in state ALARM triggered policy cpu-up changing "
                   "the desired capacity from 1 to 2." in a["Cause"] for a in acts)

    wait_for(launched_for_the_alarm, 60, "the launch activity with the alarm's cause")
    asg.delete_auto_scaling_group(AutoScalingGroupName="busy", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["busy"])["AutoScalingGroups"], 240, "group deleted")
    asg.delete_launch_configuration(LaunchConfigurationName="busy")  # the cloud is shared
    cloud.reset_properties("cloud.monitoring.detailed_period_sec",
                           "cloudwatch.alarm_evaluation_interval_sec")
