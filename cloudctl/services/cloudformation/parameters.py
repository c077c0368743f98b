"""Template parameters: declarations, the values a call gives, every constraint.

``resolve(declared, given, previous)`` returns the value of every parameter (a string,
or a list for ``List<...>``/``CommaDelimitedList``) or raises CloudFormation's
``ValidationError`` text. AWS-specific types (``AWS::EC2::KeyPair::KeyName``...) are
checked against the cloud by the caller with ``cloud_checked(declared, values)``.

Must not: call services (the caller looks the values up).
"""

from __future__ import annotations

import re
from typing import Any

from cloudctl.errors import ValidationError
from cloudctl.services.cloudformation.errors import format_error

AWS_TYPES = {
    "AWS::EC2::AvailabilityZone::Name", "AWS::EC2::Image::Id", "AWS::EC2::Instance::Id",
    "AWS::EC2::KeyPair::KeyName", "AWS::EC2::SecurityGroup::GroupName",
    "AWS::EC2::SecurityGroup::Id", "AWS::EC2::Subnet::Id", "AWS::EC2::Volume::Id",
    "AWS::EC2::VPC::Id",
}
PLAIN_TYPES = {"String", "Number", "List<Number>", "CommaDelimitedList"}
KEYS = {"Type", "Default", "AllowedValues", "AllowedPattern", "MaxLength", "MinLength",
        "MaxValue", "MinValue", "ConstraintDescription", "Description", "NoEcho"}
NO_ECHO = "****"


def is_list(kind: str) -> bool:
    return kind in ("List<Number>", "CommaDelimitedList") or kind.startswith("List<")


def element_type(kind: str) -> str:
    return kind[5:-1] if kind.startswith("List<") else kind


def check_declarations(declared: dict[str, Any]) -> None:
    for name, spec in declared.items():
        if not re.fullmatch(r"[A-Za-z0-9]+", name):
            raise format_error(f"Parameter name {name} is non alphanumeric.")
        if not isinstance(spec, dict) or "Type" not in spec:
            raise format_error(f"[/Parameters/{name}] Every Parameters object must contain "
                               f"a Type member.")
        extra = sorted(set(spec) - KEYS)
        if extra:
            raise format_error(f"Invalid template parameter property '{extra[0]}'")
        kind = spec["Type"]
        if not (kind in PLAIN_TYPES or element_type(kind) in AWS_TYPES):
            raise format_error(f"Unrecognized parameter type: {kind}")


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")] if value != "" else []


def _fail(name: str, spec: dict[str, Any], message: str) -> ValidationError:
    if "ConstraintDescription" in spec:
        return ValidationError(f"Parameter '{name}' failed to satisfy constraint: "
                               f"{spec['ConstraintDescription']}")
    return ValidationError(f"Parameter '{name}' {message}")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check_one(name: str, spec: dict[str, Any], value: str) -> None:
    kind = element_type(spec["Type"])
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        raise _fail(name, spec, "must be one of AllowedValues")
    if kind in ("Number", "List<Number>") or spec["Type"] == "List<Number>":
        number = _number(value)
        if number is None:
            raise _fail(name, spec, "must be a number")
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise _fail(name, spec, f"must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise _fail(name, spec, f"must be a number not greater than {spec['MaxValue']}")
        return
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise _fail(name, spec, f"must match pattern {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise _fail(name, spec, f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise _fail(name, spec, f"must contain at most {spec['MaxLength']} characters")


def resolve(declared: dict[str, Any], given: dict[str, Any],
            previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every declared parameter's value: given (``UsePreviousValue`` reads ``previous``),
    else its default; constraints checked."""
    unknown = [name for name in given if name not in declared]
    if unknown:
        raise ValidationError(f"Parameters: [{', '.join(unknown)}] do not exist in the "
                              f"template")
    values: dict[str, Any] = {}
    missing = []
    for name, spec in declared.items():
        if name in given:
            entry = given[name]
            if entry is None:
                if previous is None or name not in previous:
                    raise ValidationError(f"Invalid input for parameter key {name}. Cannot "
                                          f"specify usePreviousValue as true for a "
                                          f"parameter key not in the previous template")
                raw: Any = previous[name]
                raw = ",".join(raw) if isinstance(raw, list) else raw
            else:
                raw = entry
        elif "Default" in spec:
            default = spec["Default"]
            raw = ",".join(str(v) for v in default) if isinstance(default, list) else default
        else:
            missing.append(name)
            continue
        text = "true" if raw is True else "false" if raw is False else str(raw)
        if is_list(spec["Type"]):
            items = _split(text)
            for item in items:
                _check_one(name, spec, item)
            values[name] = items
        else:
            _check_one(name, spec, text)
            values[name] = text
    if missing:
        raise ValidationError(f"Parameters: [{', '.join(missing)}] must have values")
    return values


def echo(declared: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameters as DescribeStacks shows them (``NoEcho`` ones masked)."""
    shown = []
    for name, value in values.items():
        spec = declared.get(name, {})
        text = ",".join(value) if isinstance(value, list) else str(value)
        if str(spec.get("NoEcho", "false")).lower() == "true":
            text = NO_ECHO
        shown.append({"ParameterKey": name, "ParameterValue": text})
    return shown
