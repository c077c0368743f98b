"""The RunInstances workflow's first step and its pure steps, on their own: what
``validate`` refuses (in the order EC2 checks) and what it hands the later steps."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cloudctl.auth.credentials import Credential
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.services.ec2.compute import launch

ACCOUNT = "000000000001"
ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"


class Properties:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def get(self, prop: Any) -> Any:
        # as the real store: a set value as given, the default parsed from its text
        return self.values[prop.name] if prop.name in self.values else prop.parse(prop.default)


class Cloud:
    def __init__(self, **values: Any) -> None:
        self.properties = Properties(**values)
        self.region_zones = {"r1": ["r1a", "r1b"]}


def _ctx() -> RequestContext:
    credential = Credential(access_key_id="AKIAEXAMPLE", secret_access_key="s",
                            account_id=ACCOUNT, principal_arn=ARN, user_id="AIDA")
    return RequestContext(request_id="req", service="ec2", operation="RunInstances",
                          region="r1", credential=credential, wire=None,  # type: ignore[arg-type]
                          source_ip="127.0.0.1")


def _validate(params: dict[str, Any], **props: Any) -> launch.LaunchRequest:
    return launch.validate(Cloud(**props), _ctx(), params)  # type: ignore[arg-type]


def _code(params: dict[str, Any], **props: Any) -> str:
    with pytest.raises(AwsError) as caught:
        _validate(params, **props)
    return str(caught.value.code)


def test_validate_hands_the_later_steps_what_they_need() -> None:
    data = base64.b64encode(b"#!/bin/sh\n").decode()
    request = _validate({"ImageId": "emi-00000001", "MinCount": 1, "MaxCount": 3,
                         "ClientToken": "t1", "UserData": data,
                         "Placement": {"AvailabilityZone": "r1b"}})
    assert (request.account, request.region, request.requester_arn) == (ACCOUNT, "r1", ARN)
    assert (request.min_count, request.max_count, request.token) == (1, 3, "t1")
    assert request.user_data == data and request.zone == "r1b"
    assert request.zones == ["r1a", "r1b"] and request.private_ip is None
    assert request.type_name == launch.instance_types.DEFAULT_TYPE.default


def test_validate_refuses_in_ec2_order() -> None:
    assert _code({"MinCount": 2, "MaxCount": 1}) == "InvalidParameterValue"
    assert _code({"MinCount": 0, "MaxCount": 1, "ImageId": "emi-1"}) == "InvalidParameterValue"
    assert _code({"MinCount": 1, "MaxCount": 1}) == "MissingParameter"  # counts first
    assert _code({"ImageId": "emi-1", "UserData": "abc"}) == "InvalidUserData.Malformed"
    assert _code({"ImageId": "emi-1", "Placement": {"AvailabilityZone": "r2a"}}) \
        == "InvalidParameterValue"


def test_user_data_limit_comes_from_the_property() -> None:
    big = base64.b64encode(b"x" * 2048).decode()
    assert _validate({"ImageId": "emi-1", "UserData": big}).user_data == big
    assert _code({"ImageId": "emi-1", "UserData": big},
                 **{launch.USER_DATA_MAX_KB.name: "1"}) == "InvalidParameterValue"


def test_block_devices_give_an_ephemeral_disk_only_when_asked() -> None:
    plain = _validate({"ImageId": "emi-1", "BlockDeviceMappings": [
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 2}}]})
    assert launch.block_devices(plain) == 0
    asked = _validate({"ImageId": "emi-1", "BlockDeviceMappings": [
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}]})
    assert launch.block_devices(asked) == 1024
