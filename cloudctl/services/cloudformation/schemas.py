"""The pinned resource provider schemas (``schemas/*.json``, from cfn-lint; see
``schemas/SOURCE`` and ``scripts/cfn_schemas.py``) and what the engine reads of them.

``schema(type)`` is a type's ``TypeSchema``: its property names, the properties whose
change replaces the resource (``createOnlyProperties``), the read-only ones (the
attributes ``Fn::GetAtt`` may name), its primary identifier; ``validate(props)``
checks resolved properties against the schema (draft-07 JSON Schema), answering the
message CloudFormation gives ("Properties validation failed for resource ...").

Must not: know how a resource is made (``resources``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).with_name("schemas")


def _names(pointers: list[str] | None) -> list[str]:
    return [p.removeprefix("/properties/").replace("/", ".") for p in pointers or []]


@dataclass(frozen=True)
class TypeSchema:
    type_name: str
    raw: dict[str, Any] = field(repr=False)

    @property
    def properties(self) -> set[str]:
        return set(self.raw.get("properties", {}))

    @property
    def read_only(self) -> set[str]:
        return set(_names(self.raw.get("readOnlyProperties")))

    @property
    def create_only(self) -> set[str]:
        return {name.split(".", 1)[0] for name in _names(self.raw.get("createOnlyProperties"))}

    @cached_property
    def writable(self) -> frozenset[str]:
        return frozenset(self.properties - {name.split(".", 1)[0] for name in self.read_only})

    @cached_property
    def validator(self) -> jsonschema.Draft7Validator:
        """The schema's validator, made once (a type's schema is read once: ``schema``)."""
        body = {key: value for key, value in self.raw.items()
                if key not in ("readOnlyProperties", "createOnlyProperties",
                               "primaryIdentifier", "writeOnlyProperties", "tagging",
                               "typeName", "conditionalCreateOnlyProperties")}
        return _validator(self.type_name, json.dumps(body, sort_keys=True))

    @property
    def primary_identifier(self) -> list[str]:
        return _names(self.raw.get("primaryIdentifier"))

    @property
    def required(self) -> list[str]:
        return list(self.raw.get("required", []))

    @cached_property
    def _errors_of_none(self) -> list[jsonschema.ValidationError]:
        """The schema's errors for no properties at all (a user, a bucket, as a
        template most often declares them), found once: they depend on the schema
        only."""
        return self._errors({})

    def _errors(self, props: dict[str, Any]) -> list[jsonschema.ValidationError]:
        return sorted(self.validator.iter_errors(props), key=lambda e: list(e.absolute_path))

    def validate(self, logical_id: str, props: dict[str, Any]) -> str | None:
        """None when ``props`` fit the schema, else CloudFormation's failure reason."""
        unknown = sorted(set(props) - self.writable)
        if unknown:
            return f"Encountered unsupported property {unknown[0]}"
        errors = self._errors(props) if props else self._errors_of_none
        if not errors:
            return None
        error = errors[0]
        where = "#" + "".join(f"/{part}" for part in error.absolute_path)
        message = error.message
        if error.validator == "required":
            missing = message.split("'")[1] if "'" in message else message
            message = f"required key [{missing}] not found"
        return (f"Properties validation failed for resource {logical_id} with message: "
                f"[{where}: {message}]")

    def coerce(self, props: dict[str, Any]) -> dict[str, Any]:
        """Template values as the schema types them: CloudFormation accepts ``"80"``
        for an integer property and ``"true"`` for a boolean (parameters are strings)."""
        shape = {"type": "object", "properties": self.raw.get("properties", {})}
        out = _coerce(props, shape, self.raw.get("definitions", {}), 0)
        return out if isinstance(out, dict) else props

    def replaces(self, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        """The changed properties whose change needs a new physical resource."""
        return sorted(name for name in self.create_only if old.get(name) != new.get(name))


def _coerce(value: Any, shape: dict[str, Any], definitions: dict[str, Any],
            depth: int) -> Any:
    if depth > 20:
        return value
    ref = shape.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        shape = definitions.get(ref.rsplit("/", 1)[-1], {})
    kind = shape.get("type")
    if isinstance(value, str):
        if kind == "integer":
            try:
                return int(value)
            except ValueError:
                return value
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                return value
            return int(number) if number.is_integer() and "." not in value else number
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        members = shape.get("properties") or {}
        return {k: _coerce(v, members.get(k, {}), definitions, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list):
        items = shape.get("items") or {}
        return [_coerce(v, items, definitions, depth + 1) for v in value]
    return value


@cache
def _validator(type_name: str, body: str) -> jsonschema.Draft7Validator:
    del type_name
    return jsonschema.Draft7Validator(json.loads(body))


@cache
def schema(type_name: str) -> TypeSchema | None:
    path = SCHEMAS / (type_name.replace("::", "-") + ".json")
    if not path.is_file():
        return None
    return TypeSchema(type_name, json.loads(path.read_text()))


def source() -> str:
    return (SCHEMAS / "SOURCE").read_text().strip()
