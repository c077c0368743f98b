"""The XML writer's inlined members read back through botocore's own parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from botocore.parsers import QueryParser

from cloudctl.protocol import codec_for
from cloudctl.protocol.codec import ParsedRequest


def _round_trip(service: str, operation: str, result: dict[str, object]) -> dict[str, object]:
    codec = codec_for(service)
    op = codec.operation(operation, "query")
    body = codec.serialize(ParsedRequest(op, {}, "query"), result, "rid").body
    assert isinstance(body, bytes)
    parsed: dict[str, object] = QueryParser().parse(
        {"body": body, "headers": {}, "status_code": 200}, op.output_shape)
    return parsed


def test_text_numbers_flags_times_and_lists_read_back_as_written() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    group = {
        "AutoScalingGroupName": 'a&b<c>"d\r\u0001',  # escaped; \r kept, a control char replaced
        "AutoScalingGroupARN": 7,                      # a non-str in a string member
        "MinSize": True and 1, "MaxSize": 2, "DesiredCapacity": 0,
        "DefaultCooldown": 300, "HealthCheckType": "EC2",
        "CreatedTime": created.astimezone(timezone(timedelta(hours=5))),
        "NewInstancesProtectedFromScaleIn": False,
        "AvailabilityZones": ["z-1", "z&2"], "LoadBalancerNames": [],
        "Instances": [{"InstanceId": "i-1", "ProtectedFromScaleIn": True,
                       "AvailabilityZone": "z-1", "LifecycleState": "InService",
                       "HealthStatus": "Healthy"}],
        "Unknown": "ignored", "VPCZoneIdentifier": None,
    }
    out = _round_trip("autoscaling", "DescribeAutoScalingGroups",
                      {"AutoScalingGroups": [group], "NextToken": "t"})
    [back] = out["AutoScalingGroups"]  # type: ignore[misc]
    assert back["AutoScalingGroupName"] == 'a&b<c>"d\r\ufffd'
    assert back["AutoScalingGroupARN"] == "7"
    assert (back["MinSize"], back["MaxSize"], back["DesiredCapacity"]) == (1, 2, 0)
    assert back["CreatedTime"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert back["NewInstancesProtectedFromScaleIn"] is False
    assert back["AvailabilityZones"] == ["z-1", "z&2"]
    assert back["LoadBalancerNames"] == []
    assert back["Instances"][0]["ProtectedFromScaleIn"] is True
    assert back["Instances"][0]["InstanceId"] == "i-1"
    assert "VPCZoneIdentifier" not in back and "Unknown" not in back
    assert out["NextToken"] == "t"


def test_iam_users_with_naive_and_aware_times() -> None:
    users = [{"Path": "/", "UserName": "u<1>", "UserId": "AIDA1", "Arn": "arn:aws:iam::1:user/u",
              "CreateDate": datetime(2026, 1, 2, 3, 4, 5)},
             {"Path": "/p/", "UserName": "u2", "UserId": "AIDA2", "Arn": "arn:aws:iam::1:user/u2",
              "CreateDate": datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)}]
    out = _round_trip("iam", "ListUsers", {"Users": users, "IsTruncated": False})
    back = out["Users"]
    assert [u["UserName"] for u in back] == ["u<1>", "u2"]  # type: ignore[attr-defined]
    assert [u["CreateDate"] for u in back] == [  # type: ignore[attr-defined]
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 999000, tzinfo=UTC)]
    assert out["IsTruncated"] is False


def test_lists_of_structures_nested_and_empty_read_back() -> None:
    detail = {"Path": "/", "UserName": "u&1", "UserId": "AIDA1", "Arn": "arn:aws:iam::1:user/u",
              "CreateDate": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
              "GroupList": ["g1", "g<2>"],
              "AttachedManagedPolicies": [{"PolicyName": "p1", "PolicyArn": "arn:p1"},
                                          {"PolicyName": "p2", "PolicyArn": "arn:p2"}],
              "UserPolicyList": [], "Tags": [{"Key": "k", "Value": "v"}],
              "PermissionsBoundary": {"PermissionsBoundaryType": "Policy",
                                      "PermissionsBoundaryArn": "arn:b"}}
    out = _round_trip("iam", "GetAccountAuthorizationDetails",
                      {"UserDetailList": [detail, {**detail, "UserName": "u2", "Tags": []}],
                       "GroupDetailList": [], "IsTruncated": False})
    first, second = out["UserDetailList"]  # type: ignore[misc]
    assert first["UserName"] == "u&1" and second["UserName"] == "u2"
    assert first["GroupList"] == ["g1", "g<2>"]
    assert first["AttachedManagedPolicies"] == detail["AttachedManagedPolicies"]
    assert first["UserPolicyList"] == [] and second["Tags"] == []
    assert first["Tags"] == [{"Key": "k", "Value": "v"}]
    assert first["PermissionsBoundary"] == detail["PermissionsBoundary"]
    assert out["GroupDetailList"] == []
    empty = _round_trip("iam", "ListUsers", {"Users": [], "IsTruncated": False})
    assert empty["Users"] == []
