"""AWS::CloudFormation::WaitConditionHandle and ::WaitCondition.

A handle's physical id is a URL an instance can ``curl -X PUT`` a cfn-signal document
to (``/services/CloudFormation/waitcondition/<stack uuid>/<token>``, answered by the
service's request hook, ``signals_hook``); a condition waits until ``Count`` distinct
``UniqueId`` successes arrived on its handle (any ``FAILURE`` fails it) or its
``Timeout`` passed. Signals are kept on the handle's resource row (the engine reads
them through ``Act``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloudctl.services.cloudformation.errors import ResourceFailure
from cloudctl.services.cloudformation.resources.base import Act, Outcome, ResourceType

SIGNAL_PATH = "/services/CloudFormation/waitcondition/"


class WaitConditionHandle(ResourceType):
    type_name = "AWS::CloudFormation::WaitConditionHandle"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        base = act.endpoint.rstrip("/")
        url = f"{base}{SIGNAL_PATH}{act.stack_id.rsplit('/', 1)[-1]}/{act.token}"
        return Outcome(url, {})

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        return None


class WaitCondition(ResourceType):
    type_name = "AWS::CloudFormation::WaitCondition"

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        if not props.get("Handle"):
            return Outcome(act.physical_name(128), {"Data": "{}", "started": 0.0,
                                                    "count": 0, "timeout": 0})
        return Outcome(str(props["Handle"]), {
            "started": time.time(), "count": int(props.get("Count") or 1),
            "timeout": int(props.get("Timeout") or 43200), "Data": "{}"})

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        if not attributes.get("started"):
            return attributes  # a condition with a CreationPolicy has no handle here
        signals = await act.signals(physical_id)
        for signal in signals:
            if str(signal.get("Status", "")).upper() == "FAILURE":
                raise ResourceFailure(f"WaitCondition received failed message: "
                                      f"'{signal.get('Reason', '')}' for uniqueId: "
                                      f"{signal.get('UniqueId', '')}")
        unique = {str(s.get("UniqueId")): s.get("Data") for s in signals}
        if len(unique) >= attributes["count"]:
            return dict(attributes, Data=json.dumps(unique, separators=(",", ":")))
        if time.time() - attributes["started"] > attributes["timeout"]:
            raise ResourceFailure(f"WaitCondition timed out. Received {len(unique)} "
                                  f"conditions when expecting {attributes['count']}")
        return None

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        return None


TYPES: tuple[type[ResourceType], ...] = (WaitConditionHandle, WaitCondition)
