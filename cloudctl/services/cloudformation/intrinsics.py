"""The intrinsic functions and condition functions, evaluated against a stack's state.

``Evaluator(scope).resolve(value, path)`` replaces every ``Ref``/``Fn::*`` in ``value``
(``path`` names where it is, for the error: ``/Resources/X/Properties/Y``).
``AWS::NoValue`` removes the property or list item. A reference to a resource that
is not yet created raises ``Unresolved`` (the engine orders resources so it does not).
``references(value)`` lists the logical ids a value depends on (``Ref``, ``GetAtt``,
``Sub``), for the dependency graph.

Must not: touch the database or other services (``Scope`` carries what is known).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudctl.services.cloudformation.errors import template_error

NOVALUE = object()
SUB_VAR = re.compile(r"\$\{([^}]*)\}")
FUNCTIONS = ("Ref", "Condition", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt",
             "Fn::GetAZs", "Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::Split",
             "Fn::Sub", "Fn::If", "Fn::And", "Fn::Or", "Fn::Not", "Fn::Equals",
             "Fn::Length", "Fn::ToJsonString", "Fn::Transform")


class Unresolved(Exception):
    """A value refers to a resource that has no physical id (or attribute) yet."""


class Placeholder(str):
    """A stand-in for a value not known before its resource exists (a dry run's
    ``Ref``/``GetAtt``/``ImportValue``): it may be a list (``GetAtt ENI.Secondary
    PrivateIpAddresses``), so the functions taking a list accept it and give a
    placeholder, as AWS defers them to the resource's creation."""


def _unresolved(name: str) -> Any:
    """The default of a scope that knows no resource yet."""
    raise Unresolved(name)


@dataclass
class Scope:
    """What a template's functions may see."""

    parameters: dict[str, Any] = field(default_factory=dict)
    pseudo: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    resource_names: set[str] = field(default_factory=set)
    ref: Callable[[str], Any] = field(default=lambda name: _unresolved(name))
    get_att: Callable[[str, str], Any] = field(
        default=lambda name, attribute: _unresolved(name))
    imports: Callable[[str], Any] = lambda name: None
    zones: Callable[[str], list[str]] = lambda region: []
    condition_defs: dict[str, Any] = field(default_factory=dict)


def _fail(path: str, message: str) -> Exception:
    return template_error(f"{message} at {path}" if path else message)


class Evaluator:
    """Evaluates values of one template in one ``Scope``."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._evaluating: set[str] = set()

    # -- conditions -----------------------------------------------------------------------

    def condition(self, name: str, path: str = "") -> bool:
        scope = self.scope
        if name in scope.conditions:
            return scope.conditions[name]
        if name not in scope.condition_defs:
            raise template_error(f"Unresolved condition dependency {name} in Fn::If"
                                 if "Fn::If" in path else f"Condition {name} not defined.")
        if name in self._evaluating:
            raise template_error(f"Circular dependency between conditions: [{name}]")
        self._evaluating.add(name)
        value = self.resolve(scope.condition_defs[name], f"/Conditions/{name}")
        self._evaluating.discard(name)
        if not isinstance(value, bool):
            raise template_error(f"Conditions can only be boolean operations on parameters "
                                 f"and other conditions: /Conditions/{name}")
        scope.conditions[name] = value
        return value

    # -- values ---------------------------------------------------------------------------

    def resolve(self, value: Any, path: str = "") -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                if key in FUNCTIONS:
                    return self._function(key, arg, f"{path}/{key}")
            out = {}
            for key, item in value.items():
                resolved = self.resolve(item, f"{path}/{key}")
                if resolved is not NOVALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            items = [self.resolve(item, f"{path}/{i}") for i, item in enumerate(value)]
            return [item for item in items if item is not NOVALUE]
        return value

    def _function(self, name: str, arg: Any, path: str) -> Any:
        method = getattr(self, "_fn_" + name.replace("Fn::", "").lower())
        return method(arg, path)

    def _fn_ref(self, arg: Any, path: str) -> Any:
        scope = self.scope
        if not isinstance(arg, str):
            raise _fail(path, "Every Ref object must have a single String value.")
        if arg == "AWS::NoValue":
            return NOVALUE
        if arg in scope.pseudo:
            return scope.pseudo[arg]
        if arg in scope.parameters:
            return scope.parameters[arg]
        if arg in scope.resource_names:
            return scope.ref(arg)
        raise template_error(f"Unresolved resource dependencies [{arg}] in the Resources "
                             f"block of the template")

    def _fn_condition(self, arg: Any, path: str) -> bool:
        return self.condition(str(arg), path)

    def _fn_getatt(self, arg: Any, path: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise _fail(path, "Template error: every Fn::GetAtt object requires two "
                        "non-empty parameters")
        logical = arg[0]
        attribute = self.resolve(arg[1], path)
        if logical not in self.scope.resource_names:
            raise template_error(f"instance of Fn::GetAtt references undefined resource "
                                 f"{logical}")
        return self.scope.get_att(logical, str(attribute))

    def _fn_join(self, arg: Any, path: str) -> str:
        if not isinstance(arg, list) or len(arg) != 2:
            raise _fail(path, "Fn::Join requires a delimiter and a list of values")
        delimiter = self.resolve(arg[0], path)
        items = self.resolve(arg[1], path)
        if isinstance(items, Placeholder):
            return Placeholder(items)
        if not isinstance(items, list):
            raise _fail(path, "Fn::Join requires a list of values")
        return str(delimiter).join(_text(item) for item in items)

    def _fn_select(self, arg: Any, path: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise _fail(path, "Fn::Select requires an index and a list")
        index = self.resolve(arg[0], path)
        items = self.resolve(arg[1], path)
        try:
            position = int(index)
        except (TypeError, ValueError):
            raise _fail(path, "Fn::Select index must be an integer") from None
        if isinstance(items, Placeholder):
            return Placeholder(f"{items}[{position}]")
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise template_error("Fn::Select cannot select nonexistent value at index "
                                 f"{position}")
        return items[position]

    def _fn_split(self, arg: Any, path: str) -> list[str]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise _fail(path, "Fn::Split requires a delimiter and a string")
        delimiter, source = self.resolve(arg[0], path), self.resolve(arg[1], path)
        return str(source).split(str(delimiter))

    def _fn_base64(self, arg: Any, path: str) -> str:
        return base64.b64encode(_text(self.resolve(arg, path)).encode()).decode()

    def _fn_findinmap(self, arg: Any, path: str) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise _fail(path, "Fn::FindInMap requires 3 arguments")
        default = None
        if len(arg) == 4:
            option = arg[3]
            if not isinstance(option, dict) or "DefaultValue" not in option:
                raise _fail(path, "Fn::FindInMap's fourth argument is a DefaultValue")
            default = option["DefaultValue"]
        names = [self.resolve(item, path) for item in arg[:3]]
        mapping = self.scope.mappings.get(names[0])
        if mapping is None:
            if default is not None:
                return self.resolve(default, path)
            raise template_error(f"Unable to get mapping for {names[0]}::{names[1]}::"
                                 f"{names[2]}")
        try:
            return mapping[str(names[1])][str(names[2])]
        except (KeyError, TypeError):
            if default is not None:
                return self.resolve(default, path)
            raise template_error(f"Unable to get mapping for {names[0]}::{names[1]}::"
                                 f"{names[2]}") from None

    def _fn_getazs(self, arg: Any, path: str) -> list[str]:
        region = self.resolve(arg, path)
        if not region:
            region = self.scope.pseudo.get("AWS::Region", "")
        return list(self.scope.zones(str(region)))

    def _fn_importvalue(self, arg: Any, path: str) -> Any:
        name = self.resolve(arg, path)
        value = self.scope.imports(str(name))
        if value is None:
            raise template_error(f"No export named {name} found.")
        return value

    def _fn_sub(self, arg: Any, path: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise _fail(path, "Fn::Sub requires a string and a map of variables")
            text = arg[0]
            variables = {key: self.resolve(value, f"{path}/1/{key}")
                         for key, value in arg[1].items()}
        else:
            text = arg
        if not isinstance(text, str):
            raise _fail(path, "Fn::Sub requires a string")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name])
            if "." in name and name.split(".", 1)[0] in self.scope.resource_names:
                logical, attribute = name.split(".", 1)
                return _text(self.scope.get_att(logical, attribute))
            return _text(self._fn_ref(name, path))

        return SUB_VAR.sub(substitute, text)

    def _fn_if(self, arg: Any, path: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            raise _fail(path, "Fn::If requires a list argument with three elements")
        chosen = arg[1] if self.condition(str(arg[0]), path) else arg[2]
        return self.resolve(chosen, path)

    def _booleans(self, arg: Any, path: str, name: str) -> list[bool]:
        if not isinstance(arg, list) or not 2 <= len(arg) <= 10:
            raise _fail(path, f"Fn::{name} requires a list of between 2 and 10 conditions")
        values = [self.resolve(item, path) for item in arg]
        return [_boolean(value, path) for value in values]

    def _fn_and(self, arg: Any, path: str) -> bool:
        return all(self._booleans(arg, path, "And"))

    def _fn_or(self, arg: Any, path: str) -> bool:
        return any(self._booleans(arg, path, "Or"))

    def _fn_not(self, arg: Any, path: str) -> bool:
        if not isinstance(arg, list) or len(arg) != 1:
            raise _fail(path, "Fn::Not requires a list argument with one element")
        return not _boolean(self.resolve(arg[0], path), path)

    def _fn_equals(self, arg: Any, path: str) -> bool:
        if not isinstance(arg, list) or len(arg) != 2:
            raise _fail(path, "Fn::Equals requires a list argument with two elements")
        left, right = (self.resolve(item, path) for item in arg)
        return _text(left) == _text(right) if not isinstance(left, list) else left == right

    def _fn_length(self, arg: Any, path: str) -> Any:
        items = self.resolve(arg, path)
        if isinstance(items, Placeholder):
            return Placeholder(f"length({items})")
        if not isinstance(items, list):
            raise _fail(path, "Fn::Length requires a list")
        return len(items)

    def _fn_tojsonstring(self, arg: Any, path: str) -> str:
        return json.dumps(self.resolve(arg, path), separators=(",", ":"))

    def _fn_cidr(self, arg: Any, path: str) -> list[str]:
        if not isinstance(arg, list) or len(arg) != 3:
            raise _fail(path, "Fn::Cidr requires an ipBlock, a count and cidrBits")
        block, count, bits = (self.resolve(item, path) for item in arg)
        try:
            network = ipaddress.ip_network(str(block), strict=False)
            prefix = network.max_prefixlen - int(bits)
            subnets = network.subnets(new_prefix=prefix)
            return [str(next(subnets)) for _ in range(int(count))]
        except (ValueError, StopIteration):
            raise template_error(f"Invalid Fn::Cidr arguments {[block, count, bits]}") from None

    def _fn_transform(self, arg: Any, path: str) -> Any:
        raise _fail(path, "Fn::Transform of a macro is not supported by this cloud "
                    "(macros need Lambda)")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        raise template_error("Template error: every value of a string function must be "
                             "a string")
    return str(value)


def _boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise _fail(path, "Conditions can only be boolean operations")


def mentions(value: Any, *keys: str) -> bool:
    """Whether a mapping anywhere in ``value`` (a template) has one of ``keys``."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if any(key in item for key in keys):
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def imports_any(value: Any) -> bool:
    """Whether ``value`` (a template) has an ``Fn::ImportValue`` anywhere: a stack that
    imports nothing needs no read of its account's exports."""
    return mentions(value, "Fn::ImportValue")


def references(value: Any) -> set[str]:
    """Logical ids (or parameters: the caller filters) ``value`` refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                if isinstance(arg, str):
                    return {arg.split(".", 1)[0]}
                if isinstance(arg, list) and arg and isinstance(arg[0], str):
                    return {arg[0]} | references(arg[1:])
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) and arg else arg
                local = set(arg[1]) if isinstance(arg, list) and len(arg) > 1 and \
                    isinstance(arg[1], dict) else set()
                if isinstance(text, str):
                    for name in SUB_VAR.findall(text):
                        if not name.startswith("!") and name not in local:
                            found.add(name.split(".", 1)[0])
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1])
                return found
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
