"""Auto Scaling policies, schedules, lifecycle hooks and group metrics through boto3
against a live cloud with the fake node: simple and step policies by ExecutePolicy and
by a CloudWatch alarm's state change, cooldowns, target tracking's own alarms, a
scheduled action at its time, launches and terminations held by lifecycle hooks until
completed, and AWS/AutoScaling metrics in CloudWatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.autoscaling_helpers import group, launch_config, unique, wait_capacity, zones
from tests.support import LiveCloud, wait_for

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _create(cloud: LiveCloud, **extra: Any) -> str:
    name = unique("asg")
    cloud.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=4,
        LaunchConfigurationName=launch_config(cloud), AvailabilityZones=zones(cloud)[:1],
        **extra)
    return name


def _cleanup(cloud: LiveCloud, name: str) -> None:
    asg = cloud.client("autoscaling")
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"], 60, f"{name} deleted")


def _causes(cloud: LiveCloud, name: str) -> list[str]:
    acts = cloud.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=name)
    return [a["Cause"] for a in acts["Activities"]]


def test_simple_and_step_policies_by_execute_policy(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    name = _create(cloud)
    simple = asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="up",
                                    AdjustmentType="ChangeInCapacity", ScalingAdjustment=2)
    assert ":scalingPolicy:" in simple["PolicyARN"]
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="up")
    wait_capacity(cloud, name, 2)
    assert any("a user request executed policy up changing the desired capacity from 0 to "
               "2." in c for c in _causes(cloud, name))
    # the group's default cooldown (300 s) blocks a second run that honours it
    with pytest.raises(ClientError) as exc:
        asg.execute_policy(AutoScalingGroupName=name, PolicyName="up", HonorCooldown=True)
    assert _code(exc) == "ScalingActivityInProgress"
    # clamped to MaxSize
    asg.execute_policy(AutoScalingGroupName=name, PolicyName=simple["PolicyARN"])
    assert group(cloud, name)["DesiredCapacity"] == 4
    asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="half",
                           AdjustmentType="PercentChangeInCapacity", ScalingAdjustment=-50)
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="half")
    assert group(cloud, name)["DesiredCapacity"] == 2
    step = asg.put_scaling_policy(
        AutoScalingGroupName=name, PolicyName="steps", PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", EstimatedInstanceWarmup=30, StepAdjustments=[
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20,
             "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 20, "ScalingAdjustment": -2}])
    with pytest.raises(ClientError) as exc:
        asg.execute_policy(AutoScalingGroupName=name, PolicyName="steps")
    assert _code(exc) == "ValidationError"
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="steps", MetricValue=60,
                       BreachThreshold=50)
    assert group(cloud, name)["DesiredCapacity"] == 3
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="steps", MetricValue=75,
                       BreachThreshold=50)
    assert group(cloud, name)["DesiredCapacity"] == 1
    wait_capacity(cloud, name, 1)
    with pytest.raises(ClientError) as exc:
        asg.put_scaling_policy(
            AutoScalingGroupName=name, PolicyName="gap", PolicyType="StepScaling",
            AdjustmentType="ChangeInCapacity", StepAdjustments=[
                {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10,
                 "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 2}])
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="bad",
                               AdjustmentType="ChangeInCapacity")
    assert _code(exc) == "ValidationError"
    listed = asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in listed) == ["half", "steps", "up"]
    kinds = asg.describe_policies(AutoScalingGroupName=name, PolicyTypes=["StepScaling"])
    assert [p["PolicyARN"] for p in kinds["ScalingPolicies"]] == [step["PolicyARN"]]
    asg.delete_policy(AutoScalingGroupName=name, PolicyName="half")
    with pytest.raises(ClientError) as exc:
        asg.delete_policy(AutoScalingGroupName=name, PolicyName="half")
    assert _code(exc) == "ValidationError"
    _cleanup(cloud, name)


@pytest.mark.sqlite_only(
    "the alarm action to policy workflow; alarms on both databases: "
    "test_cloudwatch_alarms")
def test_alarm_state_change_runs_the_policy(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    cw = cloud.client("cloudwatch")
    name = _create(cloud, DesiredCapacity=1)
    wait_capacity(cloud, name, 1)
    up = asg.put_scaling_policy(
        AutoScalingGroupName=name, PolicyName="cpu-up", PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", StepAdjustments=[
            {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}])["PolicyARN"]
    alarm = unique("cpu-high")
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/EC2", MetricName="CPUUtilization",
                            Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=70,
                            ComparisonOperator="GreaterThanThreshold",
                            Dimensions=[{"Name": "AutoScalingGroupName", "Value": name}],
                            AlarmActions=[up.replace("cpu-up", "missing")[:-7] + "nothere"])
    assert _code(exc) == "ValidationError"
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/EC2", MetricName="CPUUtilization",
                        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=70,
                        ComparisonOperator="GreaterThanThreshold",
                        Dimensions=[{"Name": "AutoScalingGroupName", "Value": name}],
                        AlarmActions=[up])
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: busy",
                       StateReasonData='{"recentDatapoints": [90.0], "threshold": 70.0}')
    wait_capacity(cloud, name, 3)
    assert any(f"a monitor alarm {alarm} in state ALARM triggered policy cpu-up changing "
               "the desired capacity from 1 to 3." in c for c in _causes(cloud, name))
    # AlarmNotification suspended: the alarm's action changes nothing
    asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AlarmNotification"])
    cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test: idle")
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: busy again",
                       StateReasonData='{"recentDatapoints": [90.0], "threshold": 70.0}')
    wait_for(lambda: any(h["HistoryItemType"] == "Action" for h in cw.describe_alarm_history(
        AlarmName=alarm)["AlarmHistoryItems"][:1]), 30, "the second action ran")
    assert group(cloud, name)["DesiredCapacity"] == 3
    # target tracking creates and owns its alarms
    tracked = asg.put_scaling_policy(
        AutoScalingGroupName=name, PolicyName="cpu50", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={"PredefinedMetricSpecification": {
            "PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0})
    owned = [a["AlarmName"] for a in tracked["Alarms"]]
    assert len(owned) == 2 and all(n.startswith(f"TargetTracking-{name}-Alarm") for n in owned)
    found = cw.describe_alarms(AlarmNames=owned)["MetricAlarms"]
    assert {a["MetricName"] for a in found} == {"CPUUtilization"}
    assert all(a["AlarmActions"] == [tracked["PolicyARN"]] for a in found)
    asg.delete_policy(AutoScalingGroupName=name, PolicyName="cpu50")
    assert cw.describe_alarms(AlarmNames=owned)["MetricAlarms"] == []
    cw.delete_alarms(AlarmNames=[alarm])
    _cleanup(cloud, name)


def test_scheduled_action_fires_at_its_time(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    name = _create(cloud)
    start = datetime.now(UTC) + timedelta(seconds=4)
    asg.put_scheduled_update_group_action(AutoScalingGroupName=name,
                                          ScheduledActionName="morning", StartTime=start,
                                          MinSize=1, DesiredCapacity=2)
    listed = asg.describe_scheduled_actions(AutoScalingGroupName=name)
    item = listed["ScheduledUpdateGroupActions"][0]
    assert (item["ScheduledActionName"], item["DesiredCapacity"], item["MinSize"]) == \
        ("morning", 2, 1)
    assert group(cloud, name)["DesiredCapacity"] == 0
    # at its time: the group controller sets a timer for it (its resync is every 10 s)
    wait_for(lambda: group(cloud, name)["DesiredCapacity"] == 2, 60, "the scheduled action")
    late = (datetime.now(UTC) - start).total_seconds()
    assert late < 5, f"the scheduled action ran {late:.1f} s after its time"
    wait_capacity(cloud, name, 2, timeout=60)
    g = group(cloud, name)
    assert (g["MinSize"], g["DesiredCapacity"]) == (1, 2)
    assert any("a scheduled action update of AutoScalingGroup constraints to min: 1, max: 4, "
               "desired: 2 changing the desired capacity from 0 to 2." in c
               for c in _causes(cloud, name))
    assert asg.describe_scheduled_actions(AutoScalingGroupName=name)[
        "ScheduledUpdateGroupActions"] == []
    with pytest.raises(ClientError) as exc:
        asg.put_scheduled_update_group_action(AutoScalingGroupName=name,
                                              ScheduledActionName="bad", Recurrence="* * *",
                                              DesiredCapacity=1)
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        asg.put_scheduled_update_group_action(
            AutoScalingGroupName=name, ScheduledActionName="past",
            StartTime=datetime.now(UTC) - timedelta(hours=1), DesiredCapacity=1)
    assert _code(exc) == "ValidationError"
    out = asg.batch_put_scheduled_update_group_action(
        AutoScalingGroupName=name, ScheduledUpdateGroupActions=[
            {"ScheduledActionName": "nightly", "Recurrence": "0 22 * * mon-fri",
             "TimeZone": "Europe/Paris", "DesiredCapacity": 1},
            {"ScheduledActionName": "broken", "Recurrence": "99 * * * *",
             "DesiredCapacity": 1}])
    assert [f["ScheduledActionName"] for f in out["FailedScheduledUpdateGroupActions"]] == \
        ["broken"]
    nightly = asg.describe_scheduled_actions(AutoScalingGroupName=name)[
        "ScheduledUpdateGroupActions"][0]
    at = nightly["StartTime"].astimezone(UTC)
    assert at > datetime.now(UTC) and at.minute == 0 and at.hour in (20, 21)  # 22:00 Paris
    asg.batch_delete_scheduled_action(AutoScalingGroupName=name,
                                      ScheduledActionNames=["nightly"])
    _cleanup(cloud, name)


@pytest.mark.sqlite_only(
    "the lifecycle hook workflow of the group controller; its rows are plain reads "
    "and writes the other tests of the module run on both databases")
def test_lifecycle_hooks_hold_launch_and_termination(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    name = _create(cloud)
    asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="warm",
                           LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING")
    asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="drain",
                           LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                           HeartbeatTimeout=120, DefaultResult="CONTINUE")
    hooks = {h["LifecycleHookName"]: h for h in asg.describe_lifecycle_hooks(
        AutoScalingGroupName=name)["LifecycleHooks"]}
    assert hooks["warm"]["HeartbeatTimeout"] == 3600  # AWS's default
    assert hooks["warm"]["DefaultResult"] == "ABANDON"
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)

    def states() -> list[tuple[str, str]]:
        return [(i["InstanceId"], i["LifecycleState"]) for i in group(cloud, name)["Instances"]]

    waiting = wait_for(lambda: [i for i, s in states() if s == "Pending:Wait"], 30,
                       "Pending:Wait")
    iid = waiting[0]
    import time

    time.sleep(2)
    assert states() == [(iid, "Pending:Wait")]  # held
    asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=name,
                                          LifecycleHookName="warm", InstanceId=iid)
    asg.complete_lifecycle_action(AutoScalingGroupName=name, LifecycleHookName="warm",
                                  InstanceId=iid, LifecycleActionResult="CONTINUE")
    assert wait_capacity(cloud, name, 1) == [iid]
    with pytest.raises(ClientError) as exc:
        asg.complete_lifecycle_action(AutoScalingGroupName=name, LifecycleHookName="warm",
                                      InstanceId=iid, LifecycleActionResult="CONTINUE")
    assert _code(exc) == "ValidationError"
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    wait_for(lambda: states() == [(iid, "Terminating:Wait")], 30, "Terminating:Wait")
    time.sleep(1.5)
    assert states() == [(iid, "Terminating:Wait")]
    asg.complete_lifecycle_action(AutoScalingGroupName=name, LifecycleHookName="drain",
                                  InstanceId=iid, LifecycleActionResult="CONTINUE")
    wait_for(lambda: states() == [], 30, "terminated")
    asg.delete_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="warm")
    with pytest.raises(ClientError) as exc:
        asg.delete_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="warm")
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="x",
                               LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
                               HeartbeatTimeout=5)
    assert _code(exc) == "ValidationError"
    _cleanup(cloud, name)


def test_metrics_collection_publishes_group_metrics(cloud: LiveCloud) -> None:
    asg = cloud.client("autoscaling")
    name = _create(cloud, DesiredCapacity=1)
    wait_capacity(cloud, name, 1)
    asg.enable_metrics_collection(AutoScalingGroupName=name, Granularity="1Minute",
                                  Metrics=["GroupDesiredCapacity", "GroupInServiceInstances"])
    assert [m["Metric"] for m in group(cloud, name)["EnabledMetrics"]] == [
        "GroupDesiredCapacity", "GroupInServiceInstances"]
    cw = cloud.client("cloudwatch")

    def listed() -> set[str]:
        found = cw.list_metrics(Namespace="AWS/AutoScaling", Dimensions=[
            {"Name": "AutoScalingGroupName", "Value": name}])["Metrics"]
        return {m["MetricName"] for m in found}

    wait_for(lambda: listed() == {"GroupDesiredCapacity", "GroupInServiceInstances"}, 30,
             "group metrics")
    with pytest.raises(ClientError) as exc:
        asg.enable_metrics_collection(AutoScalingGroupName=name, Granularity="5Minute")
    assert _code(exc) == "ValidationError"
    asg.disable_metrics_collection(AutoScalingGroupName=name)
    assert group(cloud, name)["EnabledMetrics"] == []
    _cleanup(cloud, name)
