"""A template's intake: the processed template is a copy of the parsed one (new dicts
and lists throughout, equal to it) whether or not it has transforms to apply, and only
a template with a ``Transform``/``Fn::Transform`` key goes through the include walk."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from cloudctl.services.cloudformation import intake


def _containers(value: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found += _containers(item)
    elif isinstance(value, list):
        found.append(value)
        for item in value:
            found += _containers(item)
    return found


def _load(body: str) -> intake.Intake:
    caller = SimpleNamespace(region="r", credential=SimpleNamespace(account_id="1"))
    return asyncio.run(intake.load_as(SimpleNamespace(), caller, body))  # type: ignore[arg-type]


def test_the_processed_template_shares_no_container_with_the_parsed_one() -> None:
    body = json.dumps({"Resources": {"G": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "g", "SecurityGroupIngress": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}],
        "Tags": [{"Key": "k", "Value": "v"}]}}}})
    made = _load(body)
    assert made.processed == made.original == json.loads(body)
    shared = {id(c) for c in _containers(made.original)} & \
        {id(c) for c in _containers(made.processed)}
    assert not shared


def test_only_a_template_with_a_transform_key_is_walked_for_includes() -> None:
    assert not intake._transforms_in({"Resources": {"B": {"Type": "AWS::S3::Bucket",
                                                          "Properties": {"Tags": [{}]}}}})
    assert intake._transforms_in({"Resources": {"B": {"Type": "AWS::S3::Bucket",
                                                      "Properties": {"Tags": [
                                                          {"Fn::Transform": {}}]}}}})
    assert intake._transforms_in({"Transform": "AWS::LanguageExtensions", "Resources": {}})


def test_a_copy_is_deep_and_keeps_the_values() -> None:
    value: Any = {"a": [1, 2.5, True, None, "s", {"b": [b"x"]}], "c": {"d": {1, 2}}}
    copied = intake._copy(value)
    assert copied == value
    assert copied["a"] is not value["a"] and copied["a"][5] is not value["a"][5]
    assert copied["c"]["d"] is not value["c"]["d"]  # a YAML !!set is copied too
