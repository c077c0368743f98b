"""Canonical forms of a request's URI, query and headers for SigV4, and time parsing.

Owns only pure string functions: they must agree byte for byte with what AWS
clients sign (botocore, the AWS SDKs, s3cmd). The rule for the path differs by
service: S3 signs the path encoded once and never normalised; every other service
signs the normalised path (dot segments and empty segments removed) encoded twice.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, unquote, unquote_plus

_CANONICAL_PATH = re.compile(r"(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*")
_CANONICAL_PART = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*")
# A percent-escape of an unreserved character: canonical form spells it literally.
_ESCAPED_UNRESERVED = re.compile(r"%(?:2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])")


def uri_encode(value: str) -> str:
    """RFC 3986 encoding AWS uses: everything but ``A-Za-z0-9-._~`` as ``%XX``."""
    return quote(value, safe="~")


def _reencode(part: str) -> str:
    """One path segment or query component in canonical (encoded once) form."""
    if _CANONICAL_PART.fullmatch(part) and not _ESCAPED_UNRESERVED.search(part):
        return part
    return quote(unquote(part), safe="~")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and out else ""
    return lead + "/".join(out) + trail


def canonical_uri(raw_path: str, *, s3: bool) -> str:
    """The canonical URI of a raw (percent-encoded, as received) path."""
    if not raw_path or raw_path == "/":  # the path of every query and JSON service call
        return "/"
    if s3:
        if _CANONICAL_PATH.fullmatch(raw_path) and not _ESCAPED_UNRESERVED.search(raw_path):
            return raw_path
        return "/".join(_reencode(segment) for segment in raw_path.split("/"))
    path = _remove_dot_segments(raw_path) or "/"
    if _CANONICAL_PATH.fullmatch(path) and not _ESCAPED_UNRESERVED.search(path):
        once = path
    else:
        once = "/".join(_reencode(segment) for segment in path.split("/"))
    return once.replace("%", "%25")


def _reencode_query(part: str) -> str:
    """A query component in canonical form; ``+`` means a space, as the parsers read it."""
    if _CANONICAL_PART.fullmatch(part) and not _ESCAPED_UNRESERVED.search(part):
        return part
    return quote(unquote_plus(part), safe="~")


def canonical_query(raw_query: str, *, drop: str | None = None) -> str:
    """The canonical query string: components encoded once, sorted by name then value.

    A ``+`` decodes to a space, as ``WireRequest.query`` and the protocol parsers
    read it, so what was signed is what the provider sees.
    ``drop`` names a parameter left out (``X-Amz-Signature`` for presigned URLs).
    """
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        key = _reencode_query(key)
        if drop is not None and key == drop:
            continue
        pairs.append((key, _reencode_query(value)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_header_value(values: list[str]) -> str:
    """Values of one header: each trimmed with inner whitespace runs folded, comma-joined."""
    return ",".join(" ".join(value.split()) for value in values)


@lru_cache(maxsize=1024)
def parse_amz_date(value: str) -> datetime | None:
    """``YYYYMMDDTHHMMSSZ`` to an aware UTC datetime (``None`` if malformed)."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_http_date(value: str) -> datetime | None:
    """An RFC 1123 / RFC 850 / asctime HTTP date, or ISO 8601, as aware UTC."""
    amz = parse_amz_date(value)
    if amz is not None:
        return amz
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_amz_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
