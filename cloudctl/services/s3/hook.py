"""S3's request hook: what S3 needs around the generic dispatch.

- CORS preflights (``OPTIONS``) answered from the bucket's rules before routing;
- browser form uploads (``POST`` multipart/form-data with a POST policy) answered by
  ``PostUploads`` before routing, with the body streamed;
- object and part uploads (``PUT``, and ``POST`` forms) leave their body in
  ``wire.stream`` for the provider instead of being read whole;
- static website endpoint requests (``<bucket>.s3-website...``) answered by
  ``WebsiteEndpoint``;
- every S3 response carries ``x-amz-request-id``, and the bucket's CORS headers when
  the request has an ``Origin``; a successful request to a Requester Pays bucket that
  carried ``x-amz-request-payer: requester`` is answered with ``x-amz-request-charged:
  requester``; every finished S3 request is noted for access logs;
- on PostgreSQL a GET or HEAD of an object without a query string starts reading the
  key's current version while the request is authenticated (``pgsql.early_current``),
  unless reads run inline on the loop (``cloudctl/db/pginline.py``): then the
  handler's read takes no loop pass and needs no head start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from aiohttp import web

from cloudctl.errors import AwsError, InternalFailure
from cloudctl.protocol.wire import WireRequest, WireResponse
from cloudctl.server import router
from cloudctl.server.dispatch import REQUEST_TIMEOUT, client_gone, error_response
from cloudctl.server.guard import BodyTimeout
from cloudctl.server.runtime import Completed, RuntimeKey

if TYPE_CHECKING:
    from cloudctl.services.s3.access_log import AccessLog
    from cloudctl.services.s3.cors import Cors
    from cloudctl.services.s3.pgsql import EarlyCurrent, PgObjects
    from cloudctl.services.s3.post import PostUploads
    from cloudctl.services.s3.website import WebsiteEndpoint

log = logging.getLogger("cloudctl.api")

PAYER_HEADER = "x-amz-request-payer"
STREAMED_METHODS = frozenset({"PUT", "POST"})
# object sub-resources whose PUT body is a small XML document, not object data
XML_SUBRESOURCES = frozenset({"acl", "tagging", "retention", "legal-hold"})


def _route(wire: WireRequest) -> router.Route | None:
    """The route of a request for S3 (None: unroutable, or another service)."""
    try:
        route = router.resolve(wire)
    except AwsError:
        return None
    return route if route.service == "s3" else None


def is_upload(wire: WireRequest) -> bool:
    """An object or part PUT (a path with a key, not a bucket sub-resource) or a form POST."""
    content_type = (wire.header("Content-Type") or "").lower()
    if wire.method == "POST":
        return content_type.startswith("multipart/form-data")
    if any(key in XML_SUBRESOURCES for key, _ in wire.query):
        return False
    path = wire.path
    if path.lower().startswith("/services/objectstorage"):
        path = path[len("/services/objectstorage"):]
    parts = [p for p in path.split("/") if p]
    virtual = router.s3_host_bucket(wire.header("Host") or "") is not None
    return len(parts) >= (1 if virtual else 2)


class S3RequestHook:
    """Installed by S3's assembly; the dispatcher knows it only as a ``RequestHook``."""

    def __init__(self, cors: Cors, post: PostUploads, website: WebsiteEndpoint,
                 pg_reads: Callable[[], PgObjects | None] = lambda: None) -> None:
        self.cors, self.post, self.website = cors, post, website
        self.pg_reads = pg_reads  # PostgreSQL's current-version reads (None: another db)
        self.access_log: AccessLog | None = None  # set when the recorder starts

    async def intercept(self, wire: WireRequest, request: web.BaseRequest,
                        request_id: str) -> WireResponse | None:
        if request.method == "OPTIONS":
            preflight = await self._preflight(wire, request_id)
            if preflight is not None:
                return preflight
        page = await self.website.serve(wire, request_id)  # a static website endpoint
        if page is not None:
            return page
        if request.method == "POST" and (wire.header("Content-Type") or "").lower().startswith(
                "multipart/form-data"):
            return await self._post(wire, request, request_id)
        return None

    def streams_body(self, route: router.Route, wire: WireRequest) -> bool:
        return route.service == "s3" and wire.method in STREAMED_METHODS and is_upload(wire)

    async def decorate(self, route: router.Route, wire: WireRequest, request: web.BaseRequest,
                       request_id: str, response: WireResponse) -> None:
        if route.service != "s3":
            return
        response.headers.setdefault("x-amz-request-id", request_id)
        if "Origin" in request.headers:
            response.headers.update(await self.cors.actual_headers(wire, route.path))
        if response.status < 400 and await self._charged(wire, route.path):
            response.headers["x-amz-request-charged"] = "requester"

    async def _charged(self, wire: WireRequest, path: str) -> bool:
        """Whether the requester pays this request (it said so, the bucket asks it)."""
        if (wire.header(PAYER_HEADER) or "").strip().lower() != "requester":
            return False
        name = path.lstrip("/").split("/", 1)[0]
        bucket = await self.cors.buckets.row(name) if name else None
        return bucket is not None and bucket.request_payment == "Requester"

    def completed(self, done: Completed) -> None:
        if self.access_log is not None and done.route.service == "s3":
            self.access_log.note(done.wire, done.ctx, done.params, done.status,
                                 done.error_code, done.headers, done.bytes_sent, done.started,
                                 done.request_id)

    def early_read(self, route: router.Route, wire: WireRequest) -> EarlyCurrent | None:
        """A GET or HEAD of an object, no query string, on PostgreSQL read awaited: its
        current version's read, started now (``pgsql.early_current``)."""
        if route.service != "s3" or wire.method not in ("GET", "HEAD") or wire.raw_query:
            return None
        bucket, _, key = route.path.lstrip("/").partition("/")
        if not bucket or not key:
            return None
        reads = self.pg_reads()
        if reads is None or reads.reads.inline_near():
            return None  # inline, the handler's own read takes no pass (``pginline.py``)
        from cloudctl.services.s3.pgsql import early_current

        try:
            return early_current(reads, unquote(bucket, errors="strict"),
                                 unquote(key, errors="strict"))
        except UnicodeDecodeError:
            return None  # the parser refuses it

    async def _preflight(self, wire: WireRequest, request_id: str) -> WireResponse | None:
        """A CORS preflight answered from the bucket's rules (None: not an S3 request)."""
        route = _route(wire)
        if route is None:
            return None
        try:
            response = await self.cors.preflight(wire, route.path)
        except AwsError as error:
            response = error_response(route, error, request_id)
        response.headers.setdefault("x-amz-request-id", request_id)
        return response

    async def _post(self, wire: WireRequest, request: web.BaseRequest,
                    request_id: str) -> WireResponse | None:
        """A browser form upload (POST policy) to a bucket (None: not an S3 request)."""
        route = _route(wire)
        if route is None:
            return None
        try:
            response = await self.post.handle(wire, route.path, request.multipart, request_id)
        except AwsError as error:
            response = error_response(route, error, request_id)
        except BodyTimeout:
            response = error_response(route, AwsError(REQUEST_TIMEOUT, code="RequestTimeout"),
                                      request_id)
        except Exception as exc:
            if client_gone(request, exc):
                log.info("%s s3 PostObject aborted by the client", request_id)
                return WireResponse(status=400, headers={}, body=b"")
            log.exception("request %s (s3 PostObject) failed", request_id)
            response = error_response(route, InternalFailure(
                "We encountered an internal error. Please try again."), request_id)
        await self.decorate(route, wire, request, request_id, response)
        return response


HOOK = RuntimeKey[S3RequestHook]("s3.hook")
