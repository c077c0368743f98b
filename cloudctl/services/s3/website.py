"""Static website hosting: Put/Get/DeleteBucketWebsite and the website endpoint.

A request is for the website endpoint when its Host is
``<bucket>.s3-website.<region>.<domain>`` or ``<bucket>.s3-website-<region>.<domain>``,
or its path is ``/_website/<bucket>/<key>``. The endpoint answers GET and HEAD only,
as an anonymous reader (it serves only what anonymous users may read: the object's
read goes through the same authorization as an anonymous GetObject), with HTML error
pages, never XML:

- ``RedirectAllRequestsTo``: 301 to ``<protocol>://<host>/<key>``;
- routing rules: a rule whose condition's ``KeyPrefixEquals`` matches (and has no
  ``HttpErrorCodeReturnedEquals``) redirects before the read; one with an error code
  redirects when the read fails with that status;
- a key ending in ``/`` (or empty) gets the index document suffix; a key without the
  slash whose ``<key>/<index>`` exists gets a 302 to ``/<key>/``;
- an object with ``x-amz-website-redirect-location`` answers 301 to it;
- a miss answers the error document (with the miss's status) when there is one and it
  is readable, else an HTML page with the code and message.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote

from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest, WireResponse
from cloudctl.server.cloud import Cloud
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3.base import POLICIES, S3Provider, dumps, loads
from cloudctl.services.s3.errors import invalid_argument, malformed_xml, s3_error
from cloudctl.services.s3.models import S3Bucket

_HOST_RE = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*[a-z0-9])\.s3-website[.-]", re.I)
PATH_PREFIX = "/_website/"
_REASONS = {301: "Moved Permanently", 302: "Found", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 500: "Internal Server Error"}


def website_target(wire: WireRequest) -> tuple[str, str] | None:
    """(bucket, key) of a website endpoint request; None for any other request."""
    host = (wire.header("Host") or wire.host or "").split(":", 1)[0]
    match = _HOST_RE.match(host)
    if match:
        return match.group("bucket").lower(), unquote(wire.path.lstrip("/"))
    if wire.path.startswith(PATH_PREFIX):
        bucket, _, key = wire.path[len(PATH_PREFIX):].partition("/")
        return (bucket, unquote(key)) if bucket else None
    return None


def _check(config: dict[str, Any]) -> dict[str, Any]:
    redirect_all = config.get("RedirectAllRequestsTo")
    index = (config.get("IndexDocument") or {}).get("Suffix")
    if redirect_all:
        if not redirect_all.get("HostName"):
            raise malformed_xml()
        if index or config.get("ErrorDocument") or config.get("RoutingRules"):
            raise invalid_argument("RedirectAllRequestsTo cannot be provided in conjunction "
                                   "with other Routing Rules.", "RedirectAllRequestsTo")
        return {"RedirectAllRequestsTo": redirect_all}
    if not index:
        raise invalid_argument("A value for IndexDocument Suffix must be provided if "
                               "RedirectAllRequestsTo is empty", "IndexDocument")
    if "/" in str(index):
        raise invalid_argument("The IndexDocument Suffix is not well formed", "IndexDocument",
                               str(index))
    for rule in config.get("RoutingRules") or []:
        redirect = rule.get("Redirect") or {}
        if not redirect:
            raise malformed_xml()
        if redirect.get("ReplaceKeyWith") and redirect.get("ReplaceKeyPrefixWith"):
            raise invalid_argument("You can only define ReplaceKeyPrefix or ReplaceKey but "
                                   "not both.", "Redirect")
        code = redirect.get("HttpRedirectCode")
        if code is not None and not (str(code).isdigit() and 300 <= int(code) < 400):
            raise invalid_argument("The provided HTTP redirect code is not valid. It should "
                                   "be a 3XX value.", "HttpRedirectCode", str(code))
    return {k: config[k] for k in ("IndexDocument", "ErrorDocument", "RoutingRules")
            if config.get(k)}


def _page(status: int, code: str, message: str, request_id: str,
          head: bool = False, extra: dict[str, str] | None = None) -> WireResponse:
    reason = _REASONS.get(status, "Error")
    items = [f"<li>Code: {html.escape(code)}</li>", f"<li>Message: {html.escape(message)}</li>"]
    items += [f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in (extra or {}).items()]
    items.append(f"<li>RequestId: {request_id}</li>")
    body = (f"<html>\n<head><title>{status} {reason}</title></head>\n<body>\n"
            f"<h1>{status} {reason}</h1>\n<ul>\n" + "\n".join(items) + "\n</ul>\n<hr/>\n"
            "</body>\n</html>\n").encode()
    headers = {"Content-Type": "text/html; charset=utf-8", "x-amz-request-id": request_id}
    if head:
        return WireResponse(status=status, headers=headers, body=b"")
    return WireResponse(status=status, headers=headers, body=body)


def _redirect(location: str, status: int, request_id: str) -> WireResponse:
    return WireResponse(status=status, headers={"Location": location,
                                                "x-amz-request-id": request_id,
                                                "Content-Length": "0"}, body=b"")


def _rule_location(redirect: dict[str, Any], key: str, prefix: str, wire: WireRequest) -> str:
    if redirect.get("ReplaceKeyWith") is not None:
        new_key = str(redirect["ReplaceKeyWith"])
    elif redirect.get("ReplaceKeyPrefixWith") is not None:
        new_key = str(redirect["ReplaceKeyPrefixWith"]) + key[len(prefix):]
    else:
        new_key = key
    host = redirect.get("HostName") or wire.header("Host") or wire.host
    protocol = redirect.get("Protocol") or wire.scheme or "http"
    if not redirect.get("HostName") and wire.path.startswith(PATH_PREFIX):
        bucket = wire.path[len(PATH_PREFIX):].partition("/")[0]
        return f"{protocol}://{host}{PATH_PREFIX}{bucket}/{new_key}"
    return f"{protocol}://{host}/{new_key}"


class WebsiteEndpoint:
    """Serves website endpoint requests (called by the dispatcher before routing)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def serve(self, wire: WireRequest, request_id: str) -> WireResponse | None:
        target = website_target(wire)
        if target is None:
            return None
        bucket_name, key = target
        head = wire.method == "HEAD"
        if wire.method not in ("GET", "HEAD"):
            return _page(405, "MethodNotAllowed", "The specified method is not allowed "
                         "against this resource.", request_id,
                         extra={"Method": wire.method, "ResourceType": "OBJECT"})
        bucket: S3Bucket | None = await self.cloud.runtime[POLICIES].row(bucket_name)
        if bucket is None:
            return _page(404, "NoSuchBucket", "The specified bucket does not exist",
                         request_id, head, {"BucketName": bucket_name})
        if not bucket.website:
            return _page(404, "NoSuchWebsiteConfiguration", "The specified bucket does not "
                         "have a website configuration", request_id, head,
                         {"BucketName": bucket_name})
        config = loads(bucket.website, {})
        redirect_all = config.get("RedirectAllRequestsTo")
        if redirect_all:
            protocol = redirect_all.get("Protocol") or wire.scheme or "http"
            return _redirect(f"{protocol}://{redirect_all['HostName']}/{key}", 301, request_id)
        rules = config.get("RoutingRules") or []
        for rule in rules:
            condition = rule.get("Condition") or {}
            prefix = str(condition.get("KeyPrefixEquals") or "")
            if condition.get("HttpErrorCodeReturnedEquals") is None and key.startswith(prefix):
                redirect = rule["Redirect"]
                return _redirect(_rule_location(redirect, key, prefix, wire),
                                 int(redirect.get("HttpRedirectCode") or 301), request_id)
        suffix = str((config.get("IndexDocument") or {}).get("Suffix") or "index.html")
        lookup = key + suffix if key == "" or key.endswith("/") else key
        try:
            return await self._object(wire, bucket_name, lookup, request_id, head)
        except AwsError as error:
            failure = error
        if failure.status in (403, 404) and not key.endswith("/") and key:
            try:
                await self._read(wire, bucket_name, f"{key}/{suffix}", head=True)
            except AwsError:
                pass
            else:
                return _redirect(f"/{key}/" if not wire.path.startswith(PATH_PREFIX)
                                 else f"{PATH_PREFIX}{bucket_name}/{key}/", 302, request_id)
        for rule in rules:
            condition = rule.get("Condition") or {}
            code = condition.get("HttpErrorCodeReturnedEquals")
            prefix = str(condition.get("KeyPrefixEquals") or "")
            if code is not None and str(code) == str(failure.status) and key.startswith(prefix):
                redirect = rule["Redirect"]
                return _redirect(_rule_location(redirect, key, prefix, wire),
                                 int(redirect.get("HttpRedirectCode") or 301), request_id)
        status = failure.status if failure.status in (403, 404) else 500
        error_key = (config.get("ErrorDocument") or {}).get("Key")
        if error_key:
            try:
                page = await self._object(wire, bucket_name, str(error_key), request_id, head)
            except AwsError:
                pass
            else:
                page.status = status
                return page
        return _page(status, failure.code, failure.message, request_id, head,
                     {"Key": lookup} if status == 404 else None)

    async def _read(self, wire: WireRequest, bucket: str, key: str,
                    head: bool) -> dict[str, Any]:
        operation_name = "HeadObject" if head else "GetObject"
        handler = self.cloud.handler("s3", operation_name)
        assert handler is not None
        ctx = RequestContext(request_id="-", service="s3", operation=operation_name,
                             region=self.cloud.region, credential=None, wire=wire,
                             source_ip=wire.remote)
        out: dict[str, Any] = await handler(ctx, {"Bucket": bucket, "Key": key})
        return out

    async def _object(self, wire: WireRequest, bucket: str, key: str, request_id: str,
                      head: bool) -> WireResponse:
        out = await self._read(wire, bucket, key, head)
        location = out.get("WebsiteRedirectLocation")
        if location:
            return _redirect(str(location), 301, request_id)
        headers = {"Content-Type": str(out.get("ContentType") or "binary/octet-stream"),
                   "ETag": str(out["ETag"]), "x-amz-request-id": request_id,
                   "Last-Modified": out["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")}
        for name, header in (("CacheControl", "Cache-Control"),
                             ("ContentEncoding", "Content-Encoding"),
                             ("ContentLanguage", "Content-Language"),
                             ("ContentDisposition", "Content-Disposition")):
            if out.get(name):
                headers[header] = str(out[name])
        body = b"" if head else out.get("Body", b"")
        return WireResponse(status=200, headers=headers, body=body)


class WebsiteProvider(S3Provider):
    """Put/Get/DeleteBucketWebsite."""

    @operation("PutBucketWebsite")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        config = _check(params.get("WebsiteConfiguration") or {})
        return await self._store(ctx, params, "s3:PutBucketWebsite", dumps(config))

    @operation("DeleteBucketWebsite")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._store(ctx, params, "s3:DeleteBucketWebsite", None)

    async def _store(self, ctx: RequestContext, params: dict[str, Any], action: str,
                     value: str | None) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], action)
            bucket.website = value
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketWebsite")
    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], "s3:GetBucketWebsite")
        if not bucket.website:
            raise s3_error("NoSuchWebsiteConfiguration", "The specified bucket does not have a "
                           "website configuration", 404, BucketName=bucket.name)
        config: dict[str, Any] = loads(bucket.website, {})
        return config
