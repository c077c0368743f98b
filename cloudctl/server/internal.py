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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cloudctl.errors import AwsError, NotImplementedOperation
from cloudctl.protocol.codec import service_model
from cloudctl.protocol.wire import ParsedRequest, WireRequest
from cloudctl.server.context import RequestContext

if TYPE_CHECKING:
    from cloudctl.auth.credentials import Credential
    from cloudctl.server.cloud import Cloud

T = TypeVar("T")


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
    raise the ``AwsError`` a refused request gets (a batch's items: ``each_authorized``)."""
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


async def each_authorized(
        cloud: Cloud, caller: Caller, service: str, operation: str,
        items: Sequence[dict[str, Any]],
        make: Callable[[list[int], list[RequestContext]], Awaitable[Sequence[T | AwsError]]],
) -> list[T | AwsError]:
    """A batch of ``operation`` (an ``api`` function making many resources in one
    transaction): each item's ``params`` authorised as its own call would be, then
    ``make`` run once for the allowed ones (their indexes and contexts, in order); each
    item's result in the items' order, a refused one's the ``AwsError`` its call got."""
    results: dict[int, T | AwsError] = {}
    allowed: list[int] = []
    contexts: list[RequestContext] = []
    for index, params in enumerate(items):
        try:
            contexts.append(await authorized(cloud, caller, service, operation, params))
            allowed.append(index)
        except AwsError as error:
            results[index] = error
    if allowed:
        made = await make(allowed, contexts)
        results.update(zip(allowed, made, strict=True))
    return [results[index] for index in range(len(items))]


async def refusal(work: Awaitable[Any]) -> AwsError | None:
    """Await one call of a batch's item: None when it succeeded, else its error."""
    try:
        await work
    except AwsError as error:
        return error
    return None


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
