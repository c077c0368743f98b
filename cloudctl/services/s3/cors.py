"""CORS of buckets: preflight ``OPTIONS`` answers and the headers of actual responses.

Owns matching a request (Origin, method, requested headers) against a bucket's CORS
rules (stored by PutBucketCors) as S3 does: the first rule whose AllowedOrigins
(one ``*`` wildcard each), AllowedMethods and AllowedHeaders (wildcards,
case-insensitive) all match wins. The request pipeline (``cloudctl.server.dispatch``)
calls ``preflight`` for S3 ``OPTIONS`` requests (no authentication, as browsers send
none) and ``actual_headers`` for S3 responses to requests carrying ``Origin``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cloudctl.protocol.wire import WireRequest, WireResponse
from cloudctl.services.s3.access import BucketPolicies
from cloudctl.services.s3.errors import malformed_xml, s3_error

_FORBIDDEN = ("CORSResponse: This CORS request is not allowed. This is usually because the "
              "evalution of Origin, request method / Access-Control-Request-Method or "
              "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")


METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` (``*``: any run of characters), ignoring case.

    Linear in the lengths: one ``*`` (all PutBucketCors accepts) is a prefix and a suffix
    check; several (rules stored before that check) are matched greedily, each literal
    piece at its leftmost place, which is exact for ``*``-only patterns and never
    backtracks.
    """
    pattern, value = pattern.lower(), value.lower()
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return pattern == value
    head, tail = pieces[0], pieces[-1]
    if len(value) < len(head) + len(tail) or not value.startswith(head) \
            or not value.endswith(tail):
        return False
    position, end = len(head), len(value) - len(tail)
    for piece in pieces[1:-1]:
        found = value.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def _matches(patterns: list[str], value: str) -> bool:
    return any(wildcard_match(p, value) for p in patterns)


_HEADER_TEXT = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, controls or newlines


def validate_rules(rules: list[dict[str, Any]]) -> None:
    """Refuse a CORS configuration as PutBucketCors does (AwsError)."""
    if not rules or len(rules) > MAX_RULES:
        raise malformed_xml()
    for rule in rules:
        if not rule.get("AllowedOrigins") or not rule.get("AllowedMethods"):
            raise malformed_xml()
        for method in rule["AllowedMethods"]:
            if method not in METHODS:
                raise s3_error("InvalidRequest", "Found unsupported HTTP method in CORS "
                               f"config. Unsupported method is {method}")
        for element, values in (("AllowedOrigin", rule["AllowedOrigins"]),
                                ("AllowedHeader", rule.get("AllowedHeaders") or []),
                                ("ExposeHeader", rule.get("ExposeHeaders") or [])):
            for value in values:
                text = str(value)
                if not _HEADER_TEXT.fullmatch(text):  # echoed into response headers
                    raise s3_error("InvalidRequest", f"{element} contains an invalid character.")
                if element == "ExposeHeader" and "*" in text:
                    raise s3_error("InvalidRequest", f'ExposeHeader "{text}" contains wildcard. '
                                   "We currently do not support wildcard for ExposeHeader.")
                if text.count("*") > 1:
                    raise s3_error("InvalidRequest", f'{element} "{text}" can not have more '
                                   "than one wildcard.")


def match_rule(rules: list[dict[str, Any]], origin: str, method: str,
               headers: list[str]) -> dict[str, Any] | None:
    for rule in rules:
        if not _matches(list(rule.get("AllowedOrigins") or []), origin):
            continue
        if method not in (rule.get("AllowedMethods") or []):
            continue
        allowed = list(rule.get("AllowedHeaders") or [])
        if all(_matches(allowed, h) for h in headers):
            return rule
    return None


def bucket_of(path: str) -> str | None:
    name = path.lstrip("/").split("/", 1)[0]
    return name or None


def _response_headers(rule: dict[str, Any], origin: str) -> dict[str, str]:
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    out = {"Access-Control-Allow-Origin": "*" if wildcard else origin,
           "Access-Control-Allow-Methods": ", ".join(rule.get("AllowedMethods") or []),
           "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}
    if not wildcard:
        out["Access-Control-Allow-Credentials"] = "true"
    expose = rule.get("ExposeHeaders") or []
    if expose:
        out["Access-Control-Expose-Headers"] = ", ".join(expose)
    return out


class Cors:
    """The two hooks the request pipeline calls (through S3's request hook, ``hook.py``)."""

    def __init__(self, buckets: BucketPolicies) -> None:
        self.buckets = buckets

    async def _rules(self, path: str) -> list[dict[str, Any]] | None:
        name = bucket_of(path)
        if name is None:
            return None
        row = await self.buckets.row(name)
        if row is None:
            raise s3_error("NoSuchBucket", "The specified bucket does not exist", 404,
                           BucketName=name)
        rules: list[dict[str, Any]] | None = json.loads(row.cors) if row.cors else None
        return rules

    async def preflight(self, wire: WireRequest, path: str) -> WireResponse:
        """The answer to an ``OPTIONS`` request (AwsError when refused)."""
        origin = wire.header("Origin")
        method = wire.header("Access-Control-Request-Method")
        if not origin:
            raise s3_error("BadRequest", "Insufficient information. Origin request header "
                           "needed.")
        if not method:
            raise s3_error("BadRequest", "Invalid Access-Control-Request-Method: null")
        requested = [h.strip().lower() for h in
                     (wire.header("Access-Control-Request-Headers") or "").split(",") if h.strip()]
        rules = await self._rules(path)
        if not rules:
            raise s3_error("AccessForbidden", _FORBIDDEN, 403, Method=method,
                           ResourceType="BUCKET" if "/" not in path.strip("/") else "OBJECT")
        rule = match_rule(rules, origin, method, requested)
        if rule is None:
            raise s3_error("AccessForbidden", _FORBIDDEN, 403, Method=method,
                           ResourceType="BUCKET" if "/" not in path.strip("/") else "OBJECT")
        headers = _response_headers(rule, origin)
        if requested:
            headers["Access-Control-Allow-Headers"] = ", ".join(requested)
        if rule.get("MaxAgeSeconds") is not None:
            headers["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
        return WireResponse(200, headers, b"")

    async def actual_headers(self, wire: WireRequest, path: str) -> dict[str, str]:
        """CORS headers for the response to a request with ``Origin`` (empty: none match)."""
        origin = wire.header("Origin")
        if not origin:
            return {}
        try:
            rules = await self._rules(path)
        except Exception:
            return {}
        if not rules:
            return {}
        rule = match_rule(rules, origin, wire.method, [])
        return _response_headers(rule, origin) if rule is not None else {}
