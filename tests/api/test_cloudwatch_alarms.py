"""CloudWatch alarms through boto3 and the AWS CLI against a live cloud: put, describe
(filters, paging, the alarm_exists waiter), evaluation by the controller with history,
SetAlarmState, actions enabled/disabled, EC2 actions carried out on a real (fake-node)
instance, composite alarms, tags, dashboards, and the errors AWS answers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud, wait_for

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture
def fast(cloud: LiveCloud) -> Iterator[LiveCloud]:
    """Alarms evaluated every 2 seconds instead of every minute."""
    cloud.set_properties("cloudwatch.alarm_evaluation_interval_sec=2")
    yield cloud
    cloud.set_properties("cloudwatch.alarm_evaluation_interval_sec=60")


def _alarm(name: str, ns: str, **extra: Any) -> dict[str, Any]:
    return {"AlarmName": name, "Namespace": ns, "MetricName": "Load", "Statistic": "Maximum",
            "Period": 60, "EvaluationPeriods": 2, "Threshold": 50.0,
            "ComparisonOperator": "GreaterThanThreshold", **extra}


def _state(cw: Any, name: str, types: tuple[str, ...] = ("MetricAlarm",)) -> str:
    found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=list(types))
    return str([*found["MetricAlarms"], *found["CompositeAlarms"]][0]["StateValue"])


def _load(cw: Any, ns: str, values: list[float], dims: list[dict[str, str]] | None = None) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Load", "Dimensions": dims or [], "Value": v,
         "Timestamp": now - timedelta(minutes=len(values) - i)} for i, v in enumerate(values)])


def test_alarm_goes_to_alarm_and_back_with_history(fast: LiveCloud) -> None:
    cw = fast.client("cloudwatch")
    ns, name = f"Test/{uuid.uuid4().hex[:8]}", f"busy-{uuid.uuid4().hex[:6]}"
    _load(cw, ns, [90.0, 95.0, 99.0])
    cw.put_metric_alarm(**_alarm(name, ns, AlarmDescription="load high"))
    cw.get_waiter("alarm_exists").wait(AlarmNames=[name])
    assert wait_for(lambda: _state(cw, name) == "ALARM", 30, "ALARM")
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["StateReason"].startswith("Threshold Crossed")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"][-1] == 99.0
    cw.put_metric_alarm(**_alarm(name, ns, Threshold=100.0))  # update: now under it
    assert wait_for(lambda: _state(cw, name) == "OK", 30, "OK")
    items = cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending")
    kinds = [(i["HistoryItemType"], i["HistorySummary"]) for i in items["AlarmHistoryItems"]]
    assert kinds[0] == ("ConfigurationUpdate", f'Alarm "{name}" created')
    assert ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM") in kinds
    assert ("ConfigurationUpdate", f'Alarm "{name}" updated') in kinds
    assert kinds[-1] == ("StateUpdate", "Alarm updated from ALARM to OK")
    only = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate",
                                     MaxRecords=1)
    assert len(only["AlarmHistoryItems"]) == 1 and "NextToken" in only
    assert only["AlarmHistoryItems"][0]["HistorySummary"] == "Alarm updated from ALARM to OK"


def test_missing_data_breaching_and_metric_math_alarm(fast: LiveCloud) -> None:
    cw = fast.client("cloudwatch")
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    silent, mathy = f"silent-{uuid.uuid4().hex[:6]}", f"math-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(**_alarm(silent, f"{ns}/none", TreatMissingData="breaching"))
    _load(cw, ns, [10.0, 20.0, 30.0])
    cw.put_metric_alarm(AlarmName=mathy, EvaluationPeriods=2, Threshold=100.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", Metrics=[
                            {"Id": "m", "MetricStat": {"Metric": {"Namespace": ns,
                                                                  "MetricName": "Load"},
                                                       "Period": 60, "Stat": "Sum"},
                             "ReturnData": False},
                            {"Id": "e", "Expression": "m * 10", "ReturnData": True}])
    cw.put_metric_alarm(**_alarm(silent + "x", f"{ns}/none", TreatMissingData="notBreaching"))
    assert wait_for(lambda: _state(cw, silent) == "ALARM", 30, "missing -> ALARM")
    assert wait_for(lambda: _state(cw, mathy) == "ALARM", 30, "math ALARM")
    assert wait_for(lambda: _state(cw, silent + "x") == "OK", 30, "missing -> OK")
    metrics = cw.describe_alarms(AlarmNames=[mathy])["MetricAlarms"][0]["Metrics"]
    assert [m["Id"] for m in metrics] == ["m", "e"]


def test_set_alarm_state_actions_and_ec2_terminate(fast: LiveCloud, tmp_path: Any) -> None:
    cw, ec2 = fast.client("cloudwatch"), fast.client("ec2")
    images = register_image_set(fast, tmp_path)
    iid = ec2.run_instances(ImageId=images["emi"], MinCount=1,
                            MaxCount=1)["Instances"][0]["InstanceId"]
    name = f"kill-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(**_alarm(name, "AWS/EC2", MetricName="CPUUtilization",
                                 Dimensions=[{"Name": "InstanceId", "Value": iid}],
                                 TreatMissingData="ignore",
                                 AlarmActions=[f"arn:aws:automate:{fast.region}:ec2:terminate"]))
    cw.disable_alarm_actions(AlarmNames=[name])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing")
    assert _state(cw, name) == "ALARM"
    time.sleep(3)
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("pending", "running")  # actions disabled
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset")
    cw.enable_alarm_actions(AlarmNames=[name])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="go",
                       StateReasonData=json.dumps({"why": "test"}))

    def terminated() -> bool:
        got = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return bool(got["State"]["Name"] in ("shutting-down", "terminated"))

    assert wait_for(terminated, 30, "the terminate action")
    items = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")
    [action] = items["AlarmHistoryItems"]
    assert action["HistorySummary"] == (
        f"Successfully executed action arn:aws:automate:{fast.region}:ec2:terminate")
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x",
                           StateReasonData="{not json")
    assert _code(exc) == "InvalidFormat"
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName="nope-" + name, StateValue="ALARM", StateReason="x")
    assert _code(exc) == "ResourceNotFound"


@pytest.mark.parametrize(("extra", "code"), [
    ({"AlarmActions": ["arn:aws:automate:eucalyptus:ec2:stop"]}, "ValidationError"),
    ({"AlarmActions": ["arn:aws:autoscaling:eucalyptus:123456789012:scalingPolicy:x"]},
     "ValidationError"),
    ({"DatapointsToAlarm": 3}, "ValidationError"),
    ({"TreatMissingData": "sometimes"}, "ValidationError"),
    ({"ExtendedStatistic": "p90"}, "InvalidParameterCombination"),
    ({"Period": 45}, "InvalidParameterValue"),
    ({"EvaluateLowSampleCountPercentile": "ignore"}, "ValidationError"),
    ({"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}, "ValidationError"),
])
@pytest.mark.sqlite_only("validation answered before any SQL")
def test_put_metric_alarm_errors(cloud: LiveCloud, extra: dict[str, Any], code: str) -> None:
    cw = cloud.client("cloudwatch")
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(**_alarm("bad", "Test/bad", **extra))
    assert _code(exc) == code


@pytest.mark.sqlite_only("validation answered before any SQL")
def test_metric_math_alarm_with_a_bad_expression(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    for expression in ("m * ", "nope + 1"):
        with pytest.raises(ClientError) as exc:
            cw.put_metric_alarm(AlarmName="bad-math", EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold", Metrics=[
                                    {"Id": "m", "ReturnData": False, "MetricStat": {
                                        "Metric": {"Namespace": "Test/x", "MetricName": "y"},
                                        "Period": 60, "Stat": "Sum"}},
                                    {"Id": "e", "Expression": expression}])
        assert _code(exc) == "ValidationError"


def test_describe_filters_paging_and_delete(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    for i in range(7):
        cw.put_metric_alarm(**_alarm(f"{prefix}{i}", "Test/page",
                                     Dimensions=[{"Name": "N", "Value": str(i)}]))
    pages = list(cw.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, PaginationConfig={"PageSize": 3}))
    assert [len(p["MetricAlarms"]) for p in pages] == [3, 3, 1]
    assert cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"] == []
    for_metric = cw.describe_alarms_for_metric(
        Namespace="Test/page", MetricName="Load", Dimensions=[{"Name": "N", "Value": "3"}])
    assert [a["AlarmName"] for a in for_metric["MetricAlarms"]] == [f"{prefix}3"]
    with pytest.raises(ClientError) as exc:
        cw.describe_alarms(AlarmNames=["a"], AlarmNamePrefix="a")
    assert _code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        cw.describe_alarms(AlarmNamePrefix=prefix, NextToken="bogus")
    assert _code(exc) == "InvalidNextToken"
    with pytest.raises(ClientError) as exc:
        cw.delete_alarms(AlarmNames=[f"{prefix}0", f"{prefix}missing"])
    assert _code(exc) == "ResourceNotFound"
    cw.delete_alarms(AlarmNames=[f"{prefix}{i}" for i in range(7)])
    assert cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []


def test_composite_alarm_and_tags(fast: LiveCloud) -> None:
    cw = fast.client("cloudwatch")
    a, b, c = (f"{x}-{uuid.uuid4().hex[:6]}" for x in ("a", "b", "c"))
    # no data and missing data ignored: the states set below are kept
    cw.put_metric_alarm(**_alarm(a, "Test/comp", TreatMissingData="ignore"),
                        Tags=[{"Key": "team", "Value": "ops"}])
    cw.put_metric_alarm(**_alarm(b, "Test/comp", TreatMissingData="ignore"))
    cw.set_alarm_state(AlarmName=a, StateValue="ALARM", StateReason="t")
    cw.set_alarm_state(AlarmName=b, StateValue="OK", StateReason="t")
    with pytest.raises(ClientError) as exc:
        cw.put_composite_alarm(AlarmName=c, AlarmRule=f"ALARM({a}) AND")
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        cw.put_composite_alarm(AlarmName=c, AlarmRule="ALARM(nonexistent-alarm)")
    assert _code(exc) == "ValidationError"
    cw.put_composite_alarm(AlarmName=c, AlarmRule=f'ALARM("{a}") AND NOT ALARM({b})')
    assert wait_for(lambda: _state(cw, c, ("CompositeAlarm",)) == "ALARM", 30, "composite")
    children = cw.describe_alarms(ChildrenOfAlarmName=c)
    assert sorted(x["AlarmName"] for x in children["MetricAlarms"]) == sorted([a, b])
    parents = cw.describe_alarms(ParentsOfAlarmName=a)
    assert [x["AlarmName"] for x in parents["CompositeAlarms"]] == [c]
    assert cw.describe_alarms(AlarmNames=[c])["CompositeAlarms"] == []  # default: metric
    arn = cw.describe_alarms(AlarmNames=[a])["MetricAlarms"][0]["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "ops"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "test"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "test"}]
    with pytest.raises(ClientError) as exc:
        cw.list_tags_for_resource(ResourceARN=arn + "nope")
    assert _code(exc) == "ResourceNotFoundException"


def test_dashboards(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    name = f"dash-{uuid.uuid4().hex[:6]}"
    body = {"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
                         "properties": {"metrics": [["AWS/EC2", "CPUUtilization"]],
                                        "region": cloud.region}}]}
    assert cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))[
        "DashboardValidationMessages"] == []
    got = cw.get_dashboard(DashboardName=name)
    assert json.loads(got["DashboardBody"]) == body
    assert got["DashboardArn"].endswith(f":dashboard/{name}")
    entries = cw.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
    assert [e["DashboardName"] for e in entries] == [name]
    with pytest.raises(ClientError) as exc:
        cw.put_dashboard(DashboardName=name, DashboardBody='{"widgets": [{"type": "pie"}]}')
    assert _code(exc) == "InvalidParameterInput"
    with pytest.raises(ClientError) as exc:
        cw.put_dashboard(DashboardName="bad name!", DashboardBody=json.dumps(body))
    assert _code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        cw.delete_dashboards(DashboardNames=[name, name + "-missing"])
    assert _code(exc) == "ResourceNotFound"
    cw.delete_dashboards(DashboardNames=[name])
    with pytest.raises(ClientError) as exc:
        cw.get_dashboard(DashboardName=name)
    assert _code(exc) == "ResourceNotFound"


def test_unimplemented_operation_and_iam(cloud: LiveCloud) -> None:
    cw = cloud.client("cloudwatch")
    with pytest.raises(ClientError) as exc:
        cw.list_metric_streams()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    iam = cloud.client("iam")
    user = f"cwuser{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricAlarm",
             "Resource": f"arn:aws:cloudwatch:{cloud.region}:*:alarm:team-*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    limited = cloud.client("cloudwatch", access_key=key["AccessKeyId"],
                           secret_key=key["SecretAccessKey"])
    wait_for(lambda: _try(limited), 10, "the new key")
    with pytest.raises(ClientError) as exc:
        limited.list_metrics()
    assert _code(exc) == "AccessDenied"
    limited.put_metric_alarm(**_alarm(f"team-{user}", "Test/iam"))
    with pytest.raises(ClientError) as exc:
        limited.put_metric_alarm(**_alarm(f"other-{user}", "Test/iam"))
    assert _code(exc) == "AccessDenied"


def _try(client: Any) -> bool:
    try:
        client.put_metric_data(Namespace="Test/iam", MetricData=[{"MetricName": "m",
                                                                   "Value": 1.0}])
        return True
    except ClientError:
        return False


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3")
def test_aws_cli_alarm(cloud: LiveCloud) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    cloud.aws("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--namespace",
              "Test/cli", "--metric-name", "Load", "--statistic", "Average", "--period",
              "300", "--evaluation-periods", "1", "--threshold", "80",
              "--comparison-operator", "GreaterThanThreshold", "--datapoints-to-alarm", "1")
    out = json.loads(cloud.aws("cloudwatch", "describe-alarms", "--alarm-names",
                               name).stdout)
    assert out["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    cloud.aws("cloudwatch", "delete-alarms", "--alarm-names", name)
