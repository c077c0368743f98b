"""The wait condition handle URL: ``PUT /services/CloudFormation/waitcondition/<stack
uuid>/<token>`` with a cfn-signal JSON document (``{"Status": "SUCCESS", "UniqueId":
..., "Data": ..., "Reason": ...}``), any Content-Type (curl sends none or an empty one).

The URL is the secret, as AWS's presigned URL is: the token is random and known only
to the stack's owner (DescribeStackResource) and the instance given it. The hook keeps
the signal on the handle's resource row and wakes the engine.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import select

from cloudctl.protocol.wire import WireRequest, WireResponse
from cloudctl.server.router import Route
from cloudctl.services.cloudformation.engine import wake_stack
from cloudctl.services.cloudformation.models import StackResource
from cloudctl.services.cloudformation.resources.signals import SIGNAL_PATH

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.runtime import Completed

MAX_SIGNAL = 4096


def _answer(status: int, message: str) -> WireResponse:
    return WireResponse(status=status, headers={"Content-Type": "text/plain"},
                        body=message.encode())


class SignalHook:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def intercept(self, wire: WireRequest, request: web.BaseRequest,
                        request_id: str) -> WireResponse | None:
        if not wire.path.startswith(SIGNAL_PATH):
            return None
        if request.method != "PUT":
            return _answer(405, "Method Not Allowed")
        body = await request.content.read(MAX_SIGNAL + 1)
        if len(body) > MAX_SIGNAL:
            return _answer(400, "The signal document is too large")
        try:
            signal: Any = json.loads(body or b"{}")
        except ValueError:
            return _answer(400, "The signal document is not JSON")
        if not isinstance(signal, dict) or signal.get("Status") not in ("SUCCESS", "FAILURE"):
            return _answer(400, "Status must be SUCCESS or FAILURE")
        tail = wire.path[len(SIGNAL_PATH):]
        async with self.cloud.sessions() as session, session.begin():
            rows = (await session.execute(select(StackResource).where(
                StackResource.type == "AWS::CloudFormation::WaitConditionHandle",
                StackResource.role == "current"))).scalars()
            row = next((r for r in rows if r.physical_id and
                        r.physical_id.endswith(SIGNAL_PATH + tail)), None)
            if row is None:
                return _answer(404, "No such wait condition handle")
            entry = {"Status": signal["Status"], "UniqueId": str(signal.get("UniqueId", "")),
                     "Data": str(signal.get("Data", "")), "Reason": str(signal.get("Reason",
                                                                                   ""))}
            row.signals = list(row.signals or []) + [entry]
            stack_id = row.stack_id
        wake_stack(self.cloud, stack_id)
        return WireResponse(status=200, headers={}, body=b"")

    def streams_body(self, route: Route, wire: WireRequest) -> bool:
        return False

    async def decorate(self, route: Route, wire: WireRequest, request: web.BaseRequest,
                       request_id: str, response: WireResponse) -> None:
        return None

    def completed(self, done: Completed) -> None:
        return None

    def early_read(self, route: Route, wire: WireRequest) -> object | None:
        return None
