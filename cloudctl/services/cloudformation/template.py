"""Reading a template: JSON or YAML (with the short-form tags), and its anatomy.

``parse(body)`` returns the template as plain data (short forms become their long
``Fn::`` form); ``check_anatomy`` checks the top-level sections and each resource's
keys the way CloudFormation answers (``Template format error: ...``).

Must not: evaluate anything (``intrinsics``), know resource types (``schemas``).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from cloudctl.services.cloudformation.errors import format_error

SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules",
            "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Hooks"}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Metadata", "Condition",
                 "DeletionPolicy", "UpdateReplacePolicy", "CreationPolicy", "UpdatePolicy",
                 "Description"}
SHORT_TAGS = ("Ref", "Condition", "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs",
              "ImportValue", "Join", "Select", "Split", "Sub", "Transform", "And", "Equals",
              "If", "Not", "Or", "Length", "ToJsonString", "ForEach")


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # (PyYAML ships no types)
    """SafeLoader with CloudFormation's short-form tags; keys stay strings."""


def _construct(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if tag == "Ref":
            return {"Ref": value}
        if tag == "Condition":
            return {"Condition": value}
        if tag == "GetAtt" and isinstance(value, str):
            logical, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [logical, attribute]}
        return {f"Fn::{tag}": value}
    return construct


for _tag in SHORT_TAGS:
    _Loader.add_constructor(f"!{_tag}", _construct(_tag))


def _timestamps_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamps_as_text)


def parse(body: str) -> dict[str, Any]:
    """The template in ``body`` (JSON, else YAML) as plain data."""
    text = body.strip()
    data: Any
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise format_error(f"JSON not well-formed. (line {getattr(exc, 'lineno', 1)}, "
                               f"column {getattr(exc, 'colno', 1)})") from None
    else:
        try:
            data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise format_error(f"YAML not well-formed.{where}") from None
    if not isinstance(data, dict):
        raise format_error("unsupported structure.")
    return data


def check_anatomy(template: dict[str, Any]) -> None:
    """The sections and resource keys CloudFormation accepts, else its format errors."""
    unknown = sorted(set(template) - SECTIONS)
    if unknown:
        raise format_error(f"Invalid template property or properties [{', '.join(unknown)}]")
    version = template.get("AWSTemplateFormatVersion")
    if version is not None and str(version) != "2010-09-09":
        raise format_error(f"'{version}' is not a valid template version")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise format_error("At least one Resources member must be defined.")
    for section in ("Parameters", "Mappings", "Conditions", "Outputs"):
        value = template.get(section)
        if value is not None and not isinstance(value, dict):
            raise format_error(f"{section} section must be an object")
    for name, resource in resources.items():
        if not isinstance(resource, dict):
            raise format_error(f"[/Resources/{name}] Every Resources object must contain "
                               f"a Type member.")
        if "Type" not in resource:
            raise format_error(f"[/Resources/{name}] Every Resources object must contain "
                               f"a Type member.")
        extra = sorted(set(resource) - RESOURCE_KEYS)
        if extra:
            raise format_error(f"[/Resources/{name}] Invalid resource attribute "
                               f"{extra}")
        props = resource.get("Properties", {})
        if props is not None and not isinstance(props, dict):
            raise format_error(f"[/Resources/{name}/Properties] Properties must be an object")
    for name, output in (template.get("Outputs") or {}).items():
        if not isinstance(output, dict) or "Value" not in output:
            raise format_error(f"[/Outputs/{name}] Every Outputs member must contain a "
                               f"Value object")
