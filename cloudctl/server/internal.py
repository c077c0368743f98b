"""Calls one service makes to another's operations on behalf of a principal.

A service that acts for a user later, outside the user's request (CloudFormation
creating a stack's resources), calls the other service's operations through here: the
call is authorised as that principal by the cloud's authorizer and the providers' extra
checks exactly as a request from the principal would be, then served by the operation's
handler. Services reach this through the other service's ``api`` module (typed
functions), never by naming a handler themselves.

Must not: skip authorisation, or know any service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudctl.errors import NotImplementedOperation
from cloudctl.protocol.codec import service_model
from cloudctl.protocol.wire import ParsedRequest, WireRequest
from cloudctl.server.context import RequestContext

if TYPE_CHECKING:
    from cloudctl.auth.credentials import Credential
    from cloudctl.server.cloud import Cloud


@dataclass(frozen=True)
class Caller:
    """The principal a call acts as, the region it acts in, and who calls for it."""

    credential: Credential
    region: str
    via: str = "cloudformation.amazonaws.com"


def _protocol(service: str) -> str:
    return str(service_model(service).metadata.get("protocol", "query"))


async def authorized(cloud: Cloud, caller: Caller, service: str, operation: str,
                     params: dict[str, Any]) -> RequestContext:
    """The context of ``operation`` of ``service`` with ``params`` as ``caller``, once
    the call is authorised (the cloud's authorizer, then the providers' extra checks);
    raise the ``AwsError`` a refused request gets. A batch of one operation (``api``
    functions that make many resources in one transaction) authorises each item here."""
    model = service_model(service).operation_model(operation)
    wire = WireRequest(method="POST", path="/", raw_query="", headers={},
                       host=f"{service}.internal", remote="127.0.0.1")
    ctx = RequestContext(request_id=str(uuid.uuid4()), service=service, operation=operation,
                         region=caller.region, credential=caller.credential, wire=wire,
                         source_ip="127.0.0.1")
    ctx.extra["called_via"] = caller.via
    parsed = ParsedRequest(model, params, _protocol(service))
    await cloud.authorizer.authorize(ctx, parsed)
    for check in cloud.authorizations(service, operation):
        await check(ctx, params)
    return ctx


async def call(cloud: Cloud, caller: Caller, service: str, operation: str,
               params: dict[str, Any]) -> dict[str, Any]:
    """Run ``operation`` of ``service`` with ``params`` (botocore member names) as
    ``caller``; raise the operation's ``AwsError`` on failure, like the API would."""
    ctx = await authorized(cloud, caller, service, operation, params)
    handler = cloud.handler(service, operation)
    if handler is None:
        raise NotImplementedOperation(
            f"The operation {operation} is not implemented by this cloud.")
    return await handler(ctx, params)
