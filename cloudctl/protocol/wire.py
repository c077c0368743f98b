"""Transport-neutral request and response records shared by server, auth and protocols.

Owns only the shapes; it must not import aiohttp, providers or the database, so the
protocol and auth layers can be tested without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from botocore.model import OperationModel


class BodyStream(Protocol):
    """A request body read incrementally (S3 object uploads)."""

    async def read(self, n: int = -1) -> bytes: ...


@dataclass
class WireRequest:
    """One HTTP request as received.

    ``path`` is the raw (still percent-encoded) path, ``query`` the decoded query
    pairs in order, ``raw_query`` the query string exactly as sent. ``body`` holds
    the whole body unless the server left it in ``stream`` (large S3 payloads).
    Header names are compared case-insensitively through ``header()``.
    """

    method: str
    path: str
    raw_query: str
    headers: Mapping[str, str]
    body: bytes = b""
    stream: BodyStream | None = None
    host: str = ""
    remote: str = "127.0.0.1"
    scheme: str = "http"
    query: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.query and self.raw_query:
            self.query = parse_qsl(self.raw_query, keep_blank_values=True)
        # a case-insensitive multidict (aiohttp's): its get, the first value of a name
        self._ci_get: Callable[[str], Any] | None = \
            self.headers.get if hasattr(self.headers, "getone") else None

    def header(self, name: str, default: str | None = None) -> str | None:
        get = self._ci_get
        if get is not None:
            value = get(name)  # its first value, as getone, without raising
            if value is None:
                return default
            return value if value.__class__ is str else str(value)
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return default

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class WireResponse:
    """An HTTP response to send: a complete body or an async iterator of chunks."""

    status: int
    headers: dict[str, str]
    body: bytes | AsyncIterator[bytes] = b""


@dataclass
class ParsedRequest:
    """The outcome of parsing: the operation, its input as plain data, the protocol used."""

    operation: OperationModel
    params: dict[str, Any]
    protocol: str
