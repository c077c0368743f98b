"""The Eucalyptus Properties API: DescribeProperties and ModifyPropertyValue.

Admin-only (the authorizer enforces it). Names select exact properties or, as
euctl does, every property under a prefix (``bootstrap.webservices``).
"""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation

SECRET_MASK = "********"


class PropertiesProvider(Provider):
    service = "properties"

    def _shown(self, name: str) -> str:
        definition = self.cloud.properties.registry.get(name)
        return SECRET_MASK if definition.secret else self.cloud.properties.raw(name)

    @operation("DescribeProperties")
    async def describe_properties(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        store = self.cloud.properties
        await store.poll()
        wanted: list[str] = list(params.get("Properties") or [])
        selected = []
        for prop in store.registry:
            if not wanted or any(prop.name == w or prop.name.startswith(w.rstrip(".") + ".")
                                 for w in wanted):
                selected.append({"Name": prop.name, "Value": self._shown(prop.name),
                                 "Description": prop.description})
        if wanted and not selected:
            raise AwsError(f"No such property: {', '.join(wanted)}", code="InvalidParameterValue")
        return {"Properties": selected}

    @operation("ModifyPropertyValue")
    async def modify_property_value(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = params["Name"]
        store = self.cloud.properties
        try:
            if params.get("Reset"):
                old, new = await store.reset(name)
            else:
                if params.get("Value") is None:
                    raise AwsError("A value is required unless Reset is set.",
                                   code="MissingParameter")
                old, new = await store.set(name, params["Value"])
        except PropertyError as exc:
            raise AwsError(str(exc), code="InvalidParameterValue") from None
        definition = store.registry.get(name)
        if definition.secret:
            old = new = SECRET_MASK
        return {"Name": name, "Value": new, "OldValue": old}
