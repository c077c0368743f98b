"""A template as the engine and the API see it: checked, with its graph and scope.

``check(template)`` validates everything that needs no cloud: anatomy, parameter
declarations, resource types (a pinned schema and an adapter), property names,
references (``Ref``/``GetAtt``/``Sub``/``DependsOn``/conditions), GetAtt attributes,
cycles, outputs. ``Plan`` is one template with one set of parameter values: the
resources its conditions keep, each one's dependencies, and the scope functions
are evaluated in.

Must not: touch the database or call services.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from typing import Any

from cloudctl.services.cloudformation import intrinsics, parameters, resources, schemas
from cloudctl.services.cloudformation.errors import format_error, template_error
from cloudctl.services.cloudformation.template import check_anatomy

PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName",
          "AWS::URLSuffix", "AWS::Partition", "AWS::NotificationARNs", "AWS::NoValue")
NO_LAMBDA = ("AWS::CloudFormation::CustomResource", "AWS::CloudFormation::Macro",
             "AWS::Serverless")


def depends_on(resource: dict[str, Any]) -> list[str]:
    value = resource.get("DependsOn") or []
    return [value] if isinstance(value, str) else list(value)


def attributes_of(type_name: str) -> set[str]:
    schema = schemas.schema(type_name)
    adapter = resources.adapter(type_name)
    names = set(schema.read_only) if schema else set()
    if adapter is not None:
        names |= set(adapter.extra_attributes)
    return names


def _check_type(name: str, type_name: Any) -> None:
    if not isinstance(type_name, str):
        raise format_error(f"[/Resources/{name}/Type] Type must be a string")
    if type_name.startswith("Custom::") or type_name.startswith(NO_LAMBDA):
        raise template_error(f"resource {name} is of type {type_name}: custom resources "
                             f"need Lambda or SNS, which this cloud does not run")


def check(template: dict[str, Any]) -> None:
    """Everything CloudFormation validates before it creates anything."""
    check_anatomy(template)
    declared = template.get("Parameters") or {}
    parameters.check_declarations(declared)
    res = template["Resources"]
    conditions = template.get("Conditions") or {}
    unknown_types = []
    for name, resource in res.items():
        _check_type(name, resource["Type"])
        if schemas.schema(resource["Type"]) is None or \
                resources.adapter(resource["Type"]) is None:
            unknown_types.append(resource["Type"])
    if unknown_types:
        raise format_error(f"Unrecognized resource types: [{', '.join(unknown_types)}]")
    known = known_names(template)  # once: per resource it made the check quadratic
    for name, resource in res.items():
        schema = schemas.schema(resource["Type"])
        assert schema is not None
        props = resource.get("Properties") or {}
        unsupported = sorted(set(props) - schema.writable)
        if unsupported:
            raise template_error(f"Encountered unsupported property {unsupported[0]} at "
                                 f"/Resources/{name}/Properties")
        for target in depends_on(resource):
            if target not in res:
                raise template_error(f"Template format error: Unresolved resource "
                                     f"dependencies [{target}] in the Resources block of "
                                     f"the template")
        if "Condition" in resource and resource["Condition"] not in conditions:
            raise template_error(f"Template format error: Unresolved dependencies "
                                 f"[{resource['Condition']}]. Cannot reference resources "
                                 f"in the Conditions block of the template")
        _check_refs(template, known, props)
    for output in (template.get("Outputs") or {}).values():
        _check_refs(template, known, output)
    graph(template, set(res))


def known_names(template: dict[str, Any]) -> set[str]:
    """What a ``Ref`` may name: the template's resources and parameters, the pseudo
    parameters."""
    return set(template["Resources"]) | set(template.get("Parameters") or {}) | set(PSEUDO)


def _check_refs(template: dict[str, Any], known: set[str], value: Any) -> None:
    for target in intrinsics.references(value):
        if target not in known:
            raise template_error(f"Unresolved resource dependencies [{target}] in the "
                                 f"Resources block of the template")
    for logical, attribute in _get_atts(value):
        resource = template["Resources"].get(logical)
        if resource is None:
            raise template_error(f"Template error: instance of Fn::GetAtt references "
                                 f"undefined resource {logical}")
        adapter = resources.adapter(resource["Type"])
        dynamic = adapter is not None and any(
            attribute.startswith(prefix) and len(attribute) > len(prefix)
            for prefix in adapter.attribute_prefixes)
        if attribute not in attributes_of(resource["Type"]) and not dynamic:
            raise template_error(f"Template error: resource {logical} does not support "
                                 f"attribute type {attribute} in Fn::GetAtt")


def _get_atts(value: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if len(value) == 1 and "Fn::GetAtt" in value:
            arg = value["Fn::GetAtt"]
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            if isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg):
                return [(arg[0], arg[1])]
            return found
        if len(value) == 1 and "Fn::Sub" in value:
            arg = value["Fn::Sub"]
            text = arg[0] if isinstance(arg, list) and arg else arg
            if isinstance(text, str):
                for name in intrinsics.SUB_VAR.findall(text):
                    if "." in name and not name.startswith("!"):
                        logical, attribute = name.split(".", 1)
                        found.append((logical, attribute))
        for item in value.values():
            found += _get_atts(item)
    elif isinstance(value, list):
        for item in value:
            found += _get_atts(item)
    return found


def graph(template: dict[str, Any], names: set[str]) -> dict[str, set[str]]:
    """Each kept resource's dependencies among ``names``; a cycle is CloudFormation's
    ``Circular dependency between resources`` error."""
    deps: dict[str, set[str]] = {}
    for name in names:
        resource = template["Resources"][name]
        found = intrinsics.references(resource.get("Properties") or {})
        deps[name] = (found | set(depends_on(resource))) & names
    if not any(deps.values()):
        return deps  # no edge, no cycle (the sorter's search for one is most of the cost)
    sorter = graphlib.TopologicalSorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = sorted(set(exc.args[1]))
        raise template_error(f"Circular dependency between resources: "
                             f"[{', '.join(cycle)}]") from None
    return deps


@dataclass
class Plan:
    """One template evaluated with one set of parameter values."""

    template: dict[str, Any]
    values: dict[str, Any]
    pseudo: dict[str, Any]
    zones: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scope = intrinsics.Scope(
            parameters=dict(self.values), pseudo=dict(self.pseudo),
            mappings=self.template.get("Mappings") or {},
            condition_defs=self.template.get("Conditions") or {},
            imports=self.exports.get, zones=lambda region: list(self.zones))
        self.evaluator = intrinsics.Evaluator(self.scope)
        for name in self.scope.condition_defs:
            self.evaluator.condition(name)
        res = self.template["Resources"]
        self.kept = {name for name, r in res.items()
                     if "Condition" not in r or self.scope.conditions.get(r["Condition"])}
        self.scope.resource_names = set(self.kept)
        self.deps = graph(self.template, self.kept)

    def type_of(self, name: str) -> str:
        return str(self.template["Resources"][name]["Type"])

    def properties(self, name: str) -> dict[str, Any]:
        resource = self.template["Resources"][name]
        value = self.evaluator.resolve(resource.get("Properties") or {},
                                       f"/Resources/{name}/Properties")
        return value if isinstance(value, dict) else {}

    def deletion_policy(self, name: str) -> str:
        resource = self.template["Resources"][name]
        policy = self.evaluator.resolve(resource.get("DeletionPolicy", "Delete"),
                                        f"/Resources/{name}/DeletionPolicy")
        return str(policy)

    def outputs(self) -> list[dict[str, Any]]:
        shown = []
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.scope.conditions.get(output["Condition"]):
                continue
            entry: dict[str, Any] = {
                "OutputKey": name,
                "OutputValue": _text(self.evaluator.resolve(output["Value"],
                                                            f"/Outputs/{name}/Value"))}
            if "Description" in output:
                entry["Description"] = output["Description"]
            if "Export" in output:
                entry["ExportName"] = _text(self.evaluator.resolve(
                    output["Export"].get("Name"), f"/Outputs/{name}/Export/Name"))
            shown.append(entry)
        return shown


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
