"""Typed per-process objects that services share with the rest of their process.

A service that keeps a runtime object (its store, its controller, a lock) declares a
``RuntimeKey[T]`` beside it and puts the object in ``cloud.runtime``; readers get a
``T`` back, so mypy and import-linter see every dependency (no string lookups, no
``Any``). Request hooks (``RequestHook``) let a service handle what the generic
dispatch does not know about (S3's CORS preflights, website endpoints, browser form
POSTs, CORS response headers and access logs, a read started before authentication)
without the dispatcher naming the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from aiohttp import web

    from cloudctl.protocol.wire import WireRequest, WireResponse
    from cloudctl.server.context import RequestContext
    from cloudctl.server.router import Route

T = TypeVar("T")


@dataclass(frozen=True)
class RuntimeKey(Generic[T]):
    """The name of one runtime object of type ``T``."""

    name: str


class Runtime:
    """The process's runtime objects by typed key."""

    def __init__(self) -> None:
        self._values: dict[RuntimeKey[Any], Any] = {}

    def __getitem__(self, key: RuntimeKey[T]) -> T:
        value: T = self._values[key]
        return value

    def __setitem__(self, key: RuntimeKey[T], value: T) -> None:
        self._values[key] = value

    def __contains__(self, key: RuntimeKey[Any]) -> bool:
        return key in self._values

    def get(self, key: RuntimeKey[T]) -> T | None:
        value: T | None = self._values.get(key)
        return value

    def setdefault(self, key: RuntimeKey[T], make: Callable[[], T]) -> T:
        """The object under ``key``, made by ``make`` on first use."""
        if key not in self._values:
            self._values[key] = make()
        value: T = self._values[key]
        return value

    def pop(self, key: RuntimeKey[T]) -> T | None:
        value: T | None = self._values.pop(key, None)
        return value


@dataclass(frozen=True)
class Completed:
    """A request that was answered (for hooks that record requests: S3 access logs)."""

    route: Route
    wire: WireRequest
    ctx: RequestContext | None  # None: refused before it was authenticated
    params: dict[str, Any]
    status: int
    error_code: str | None
    headers: Any
    bytes_sent: int
    started: float  # time.perf_counter() at arrival
    request_id: str


class RequestHook(Protocol):
    """A service's handling around the generic dispatch."""

    async def intercept(self, wire: WireRequest, request: web.BaseRequest,
                        request_id: str) -> WireResponse | None:
        """Answer the request before routing (None: dispatch as usual)."""

    def streams_body(self, route: Route, wire: WireRequest) -> bool:
        """Whether the request body is left in ``wire.stream`` for the provider."""

    async def decorate(self, route: Route, wire: WireRequest, request: web.BaseRequest,
                       request_id: str, response: WireResponse) -> None:
        """Add the service's headers to a response of one of its routes."""

    def completed(self, done: Completed) -> None:
        """A request was answered (cheap: called on every request)."""

    def early_read(self, route: Route, wire: WireRequest) -> object | None:
        """A read the request's handler will need, started now, before authentication
        (None: none). The dispatcher hands it to the handler as ``ctx.extra[EARLY_READ]``
        and never waits for it: the read must have no effect and its result is used
        only once the request is authorized (it started after the request arrived, so
        it sees every change acknowledged before)."""


EARLY_READ = "early_read"  # ``RequestContext.extra``: what a hook's ``early_read`` started
