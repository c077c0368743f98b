"""The typed registry of property definitions: names, types, defaults, validation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

NAME_RE = re.compile(r"^[a-z0-9_\-]+(\.[a-z0-9_\-]+)+\Z")


class PropertyError(ValueError):
    """A value that does not fit its property, or an unknown property name."""


class PropertyType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    FLOAT = "float"
    JSON = "json"


def _parse(kind: PropertyType, raw: str) -> Any:
    if kind is PropertyType.STRING:
        return raw
    if kind is PropertyType.INTEGER:
        try:
            return int(raw.strip())
        except ValueError:
            raise PropertyError(f"'{raw}' is not an integer") from None
    if kind is PropertyType.FLOAT:
        try:
            return float(raw.strip())
        except ValueError:
            raise PropertyError(f"'{raw}' is not a number") from None
    if kind is PropertyType.BOOLEAN:
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise PropertyError(f"'{raw}' is not a boolean (true or false)")
    if raw.strip() == "":
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PropertyError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


@dataclass(frozen=True)
class PropertyDef:
    """One property: ``area.name``, its type, default (as text), description, rules.

    ``validator`` receives the parsed value and raises ``PropertyError`` to refuse
    it; ``minimum``/``maximum`` bound numbers; ``choices`` bound strings.
    """

    name: str
    kind: PropertyType
    default: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    validator: Callable[[Any], None] | None = None
    readonly: bool = False
    secret: bool = False

    def parse(self, raw: str) -> Any:
        """The typed value of ``raw``, validated; raises ``PropertyError``."""
        value = _parse(self.kind, raw)
        if self.kind in (PropertyType.INTEGER, PropertyType.FLOAT):
            if self.minimum is not None and value < self.minimum:
                raise PropertyError(f"{self.name} must be at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise PropertyError(f"{self.name} must be at most {self.maximum:g}")
        if self.choices and value not in self.choices:
            raise PropertyError(f"{self.name} must be one of: {', '.join(self.choices)}")
        if self.validator is not None and value is not None:
            self.validator(value)
        return value


@dataclass
class Registry:
    """All known property definitions, plus per-zone templates (``{zone}.storage...``)."""

    definitions: dict[str, PropertyDef] = field(default_factory=dict)
    zone_templates: dict[str, PropertyDef] = field(default_factory=dict)
    zones: list[str] = field(default_factory=list)

    def define(self, prop: PropertyDef) -> PropertyDef:
        if "{zone}" in prop.name:
            self.zone_templates[prop.name] = prop
            for zone in self.zones:
                self._add(self._for_zone(prop, zone))
            return prop
        return self._add(prop)

    def _add(self, prop: PropertyDef) -> PropertyDef:
        if not NAME_RE.match(prop.name):
            raise ValueError(f"bad property name {prop.name!r}")
        prop.parse(prop.default)  # a default must satisfy its own rules
        self.definitions[prop.name] = prop
        return prop

    @staticmethod
    def _for_zone(template: PropertyDef, zone: str) -> PropertyDef:
        return PropertyDef(
            name=template.name.replace("{zone}", zone),
            kind=template.kind,
            default=template.default,
            description=template.description.replace("{zone}", zone),
            minimum=template.minimum,
            maximum=template.maximum,
            choices=template.choices,
            validator=template.validator,
            readonly=template.readonly,
            secret=template.secret,
        )

    def set_zones(self, zones: list[str]) -> None:
        """Instantiate every per-zone template for the configured zones."""
        self.zones = list(zones)
        for template in self.zone_templates.values():
            for zone in zones:
                self._add(self._for_zone(template, zone))

    def get(self, name: str) -> PropertyDef:
        try:
            return self.definitions[name]
        except KeyError:
            raise PropertyError(f"no such property: {name}") from None

    def __iter__(self) -> Iterator[PropertyDef]:
        return iter(sorted(self.definitions.values(), key=lambda p: p.name))

    def __contains__(self, name: object) -> bool:
        return name in self.definitions


registry = Registry()
