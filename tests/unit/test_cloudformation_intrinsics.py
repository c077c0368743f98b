"""CloudFormation template functions, parameters and checks, table-driven (no cloud)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudctl.errors import ValidationError
from cloudctl.services.cloudformation import intrinsics, parameters, processing, template
from cloudctl.services.cloudformation.intrinsics import NOVALUE, Evaluator, Scope


def scope() -> Scope:
    s = Scope(parameters={"Env": "prod", "Sizes": ["1", "2", "3"]},
              pseudo={"AWS::Region": "eucalyptus", "AWS::AccountId": "123456789012",
                      "AWS::StackName": "st", "AWS::Partition": "aws",
                      "AWS::URLSuffix": "amazonaws.com"},
              mappings={"M": {"prod": {"Size": "10"}, "dev": {"Size": "1"}}},
              condition_defs={"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                              "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]}},
              resource_names={"Bucket"},
              imports={"shared-vpc": "vpc-1"}.get,
              zones=lambda region: [f"{region}a", f"{region}b"])
    s.ref = lambda name: "phys-" + name
    s.get_att = lambda name, attr: f"{name}.{attr}"
    return s


CASES: list[tuple[Any, Any]] = [
    ({"Ref": "Env"}, "prod"),
    ({"Ref": "AWS::Region"}, "eucalyptus"),
    ({"Ref": "Bucket"}, "phys-Bucket"),
    ({"Fn::GetAtt": ["Bucket", "Arn"]}, "Bucket.Arn"),
    ({"Fn::GetAtt": "Bucket.Arn"}, "Bucket.Arn"),
    ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, "c"]]}, "a-prod-c"),
    ({"Fn::Join": ["", []]}, ""),
    ({"Fn::Sub": "${AWS::StackName}-${Env}-${Bucket}-${Bucket.Arn}-${!Literal}"},
     "st-prod-phys-Bucket-Bucket.Arn-${Literal}"),
    ({"Fn::Sub": ["${x}/${Env}", {"x": {"Ref": "AWS::AccountId"}}]}, "123456789012/prod"),
    ({"Fn::Select": ["1", ["a", "b", "c"]]}, "b"),
    ({"Fn::Select": [0, {"Ref": "Sizes"}]}, "1"),
    ({"Fn::Split": [",", "a,b,,c"]}, ["a", "b", "", "c"]),
    ({"Fn::FindInMap": ["M", {"Ref": "Env"}, "Size"]}, "10"),
    ({"Fn::FindInMap": ["M", "test", "Size", {"DefaultValue": "5"}]}, "5"),
    ({"Fn::GetAZs": ""}, ["eucalyptusa", "eucalyptusb"]),
    ({"Fn::GetAZs": {"Ref": "AWS::Region"}}, ["eucalyptusa", "eucalyptusb"]),
    ({"Fn::Base64": "hello"}, "aGVsbG8="),
    ({"Fn::Cidr": ["10.0.0.0/16", 3, 8]}, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
    ({"Fn::ImportValue": "shared-vpc"}, "vpc-1"),
    ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
    ({"Fn::If": ["NotProd", "big", "small"]}, "small"),
    ({"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": ["a", "a"]}]}, True),
    ({"Fn::Or": [{"Condition": "NotProd"}, {"Fn::Equals": ["a", "b"]}]}, False),
    ({"Fn::Not": [{"Fn::Equals": [{"Ref": "Env"}, "dev"]}]}, True),
    ({"Fn::Equals": [{"Ref": "Env"}, "prod"]}, True),
    ({"Fn::Length": {"Ref": "Sizes"}}, 3),
    ({"Fn::ToJsonString": {"a": [1, {"Ref": "Env"}]}}, '{"a":[1,"prod"]}'),
    ({"K": {"Fn::If": ["NotProd", "x", {"Ref": "AWS::NoValue"}]}, "L": 1}, {"L": 1}),
    ([{"Ref": "AWS::NoValue"}, "kept"], ["kept"]),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_function(value: Any, expected: Any) -> None:
    assert Evaluator(scope()).resolve(value) == expected


ERRORS: list[tuple[Any, str]] = [
    ({"Ref": "Nope"}, "Unresolved resource dependencies [Nope]"),
    ({"Fn::Select": [5, ["a"]]}, "Fn::Select cannot select nonexistent value at index 5"),
    ({"Fn::FindInMap": ["M", "qa", "Size"]}, "Unable to get mapping for M::qa::Size"),
    ({"Fn::ImportValue": "missing"}, "No export named missing found."),
    ({"Fn::If": ["Unknown", 1, 2]}, "Unresolved condition dependency Unknown in Fn::If"),
    ({"Fn::GetAtt": ["Other", "Arn"]}, "references undefined resource Other"),
]


@pytest.mark.parametrize(("value", "message"), ERRORS)
def test_function_errors(value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Evaluator(scope()).resolve(value, "/Resources/X/Properties")
    assert message in caught.value.message


def test_yaml_short_forms() -> None:
    body = """
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub '${AWS::StackName}-b'
      Tags:
        - Key: k
          Value: !Join [',', [!Ref AWS::Region, !GetAtt Other.Arn, !Select [0, !GetAZs '']]]
        - Key: when
          Value: 2020-01-01
"""
    parsed = template.parse(body)
    tags = parsed["Resources"]["B"]["Properties"]["Tags"]
    assert parsed["Resources"]["B"]["Properties"]["BucketName"] == {
        "Fn::Sub": "${AWS::StackName}-b"}
    assert tags[0]["Value"] == {"Fn::Join": [",", [
        {"Ref": "AWS::Region"}, {"Fn::GetAtt": ["Other", "Arn"]},
        {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]}
    assert tags[1]["Value"] == "2020-01-01"


def test_references_for_the_graph() -> None:
    value = {"A": {"Ref": "X"}, "B": {"Fn::GetAtt": ["Y", "Arn"]},
             "C": {"Fn::Sub": ["${Z.Arn}-${local}-${!no}", {"local": {"Ref": "W"}}]}}
    assert intrinsics.references(value) == {"X", "Y", "Z", "W"}


PARAMS: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"P": {"Type": "String"}}, {}, "Parameters: [P] must have values"),
    ({"P": {"Type": "String"}}, {"P": "a", "Q": "b"}, "Parameters: [Q] do not exist"),
    ({"P": {"Type": "String", "AllowedValues": ["a"]}}, {"P": "b"},
     "Parameter 'P' must be one of AllowedValues"),
    ({"P": {"Type": "String", "AllowedPattern": "[0-9]+"}}, {"P": "x"},
     "Parameter 'P' must match pattern [0-9]+"),
    ({"P": {"Type": "String", "MinLength": 3}}, {"P": "ab"},
     "Parameter 'P' must contain at least 3 characters"),
    ({"P": {"Type": "String", "MaxLength": 1}}, {"P": "ab"},
     "Parameter 'P' must contain at most 1 characters"),
    ({"P": {"Type": "Number"}}, {"P": "x"}, "Parameter 'P' must be a number"),
    ({"P": {"Type": "Number", "MinValue": 2}}, {"P": "1"},
     "Parameter 'P' must be a number not less than 2"),
    ({"P": {"Type": "Number", "MaxValue": 2}}, {"P": "3"},
     "Parameter 'P' must be a number not greater than 2"),
    ({"P": {"Type": "List<Number>"}}, {"P": "1,x"}, "Parameter 'P' must be a number"),
    ({"P": {"Type": "String", "AllowedValues": ["a"], "ConstraintDescription": "pick a"}},
     {"P": "b"}, "Parameter 'P' failed to satisfy constraint: pick a"),
]


@pytest.mark.parametrize(("declared", "given", "message"), PARAMS)
def test_parameter_constraints(declared: dict[str, Any], given: dict[str, Any],
                               message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parameters.resolve(declared, given)
    assert message in caught.value.message


def test_parameter_values_and_no_echo() -> None:
    declared = {"L": {"Type": "CommaDelimitedList", "Default": "a, b"},
                "S": {"Type": "String", "NoEcho": True}, "N": {"Type": "Number"}}
    values = parameters.resolve(declared, {"S": "secret", "N": "4"})
    assert values == {"L": ["a", "b"], "S": "secret", "N": "4"}
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in parameters.echo(declared, values)}
    assert shown == {"L": "a,b", "S": "****", "N": "4"}
    assert parameters.resolve(declared, {"S": None, "N": "1"}, {"S": "old"})["S"] == "old"


CHECKS: list[tuple[dict[str, Any], str]] = [
    ({"Resources": {}}, "At least one Resources member must be defined."),
    ({"Resources": {"A": {"Type": "AWS::Foo::Bar"}}},
     "Unrecognized resource types: [AWS::Foo::Bar]"),
    ({"Resources": {"A": {"Type": "AWS::S3::Bucket", "Properties": {"Nope": 1}}}},
     "Encountered unsupported property Nope"),
    ({"Resources": {"A": {"Type": "AWS::S3::Bucket"}},
      "Outputs": {"O": {"Value": {"Fn::GetAtt": ["A", "Nope"]}}}},
     "resource A does not support attribute type Nope in Fn::GetAtt"),
    ({"Resources": {"A": {"Type": "AWS::S3::Bucket", "DependsOn": "B"},
                    "B": {"Type": "AWS::S3::Bucket", "DependsOn": "A"}}},
     "Circular dependency between resources: [A, B]"),
    ({"Resources": {"A": {"Type": "AWS::CloudFormation::CustomResource"}}},
     "custom resources need Lambda or SNS"),
    ({"Resources": {"A": {"Type": "AWS::S3::Bucket"}}, "Bogus": {}},
     "Invalid template property or properties [Bogus]"),
    ({"Parameters": {"P": {"Type": "Weird"}}, "Resources": {"A": {"Type": "AWS::S3::Bucket"}}},
     "Unrecognized parameter type: Weird"),
]


@pytest.mark.parametrize(("tmpl", "message"), CHECKS)
def test_template_checks(tmpl: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        processing.check(tmpl)
    assert message in caught.value.message


def test_schema_validation_and_replacement() -> None:
    from cloudctl.services.cloudformation import schemas

    group = schemas.schema("AWS::EC2::SecurityGroup")
    assert group is not None
    assert "GroupDescription" in group.create_only
    reason = group.validate("SG", {})
    assert reason is not None and "required key [GroupDescription] not found" in reason
    assert group.replaces({"GroupDescription": "a"}, {"GroupDescription": "b"}) == [
        "GroupDescription"]
    assert schemas.source().startswith("cfn-lint ")


def test_no_value_is_a_sentinel() -> None:
    assert Evaluator(scope()).resolve({"Ref": "AWS::NoValue"}) is NOVALUE


def test_placeholders_stand_in_for_lists_in_a_dry_run() -> None:
    """A dry run's GetAtt may be a list: Select, Join and Length over it defer."""
    s = scope()
    s.get_att = lambda name, attr: intrinsics.Placeholder(f"{name}.{attr}-placeholder")
    evaluator = Evaluator(s)
    picked = evaluator.resolve({"Fn::Select": ["1", {"Fn::GetAtt": ["Bucket", "Ips"]}]}, "")
    assert isinstance(picked, intrinsics.Placeholder) and picked == "Bucket.Ips-placeholder[1]"
    joined = evaluator.resolve({"Fn::Join": [",", {"Fn::GetAtt": ["Bucket", "Ips"]}]}, "")
    assert isinstance(joined, intrinsics.Placeholder)
    assert isinstance(evaluator.resolve({"Fn::Length": {"Fn::GetAtt": ["Bucket", "Ips"]}}, ""),
                      intrinsics.Placeholder)
    with pytest.raises(ValidationError):  # a real string is still not a list
        evaluator.resolve({"Fn::Select": ["1", "a-string"]}, "")


def test_engine_looks_again_soon_then_every_second() -> None:
    """A pass with nothing ready retries after 50 ms, a quarter as long again each time
    up to a second; progress starts over."""
    from cloudctl.services.cloudformation.rows import ResourceRows

    rows = ResourceRows()
    rows._idle = {}
    assert [rows._waiting("s").delay for _ in range(16)] == [
        0.05, 0.062, 0.078, 0.098, 0.122, 0.153, 0.191, 0.238, 0.298, 0.373, 0.466, 0.582,
        0.728, 0.909, 1.0, 1.0]
    assert rows._waiting("other").delay == 0.05
    rows._progressed("s")
    assert rows._waiting("s").delay == 0.05


def test_check_finds_the_names_a_ref_may_name_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template's check builds the set of names a ``Ref`` may name once, not once a
    resource (quadratic in the resources: 0.3 ms of a stack of 100's CreateStack), and
    still refuses a reference to none of them."""
    calls: list[int] = []
    real = processing.known_names

    def counted(tmpl: dict[str, Any]) -> set[str]:
        calls.append(1)
        return real(tmpl)

    monkeypatch.setattr(processing, "known_names", counted)
    resources = {f"Group{i}": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": {"Fn::Sub": "after ${Group0}"} if i else "first"}}
        for i in range(50)}
    processing.check({"Resources": resources,
                      "Outputs": {"First": {"Value": {"Ref": "Group0"}}}})
    assert len(calls) == 1
    resources["Group7"]["Properties"]["GroupDescription"] = {"Ref": "Nowhere"}
    with pytest.raises(ValidationError, match=r"Unresolved resource dependencies \[Nowhere\]"):
        processing.check({"Resources": resources})
