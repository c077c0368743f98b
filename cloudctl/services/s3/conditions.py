"""Conditional requests and byte ranges of GET/HEAD (and copy sources)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from cloudctl.services.s3.errors import (
    no_such_key,
    not_modified,
    precondition_failed,
    s3_error,
)

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)\Z")


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip().removeprefix("W/").strip('"')
        if candidate == "*" or candidate == etag:
            return True
    return False


def check(params: dict[str, Any], etag: str, modified: datetime, *, prefix: str = "") -> None:
    """Apply If-Match / If-None-Match / If-(Un)Modified-Since (``prefix``: CopySource)."""
    if_match = params.get(f"{prefix}IfMatch")
    if_none = params.get(f"{prefix}IfNoneMatch")
    since = params.get(f"{prefix}IfModifiedSince")
    unmodified = params.get(f"{prefix}IfUnmodifiedSince")
    modified = modified.replace(microsecond=0)
    if if_match is not None:
        if not _etag_matches(str(if_match), etag):
            raise precondition_failed("If-Match")
    elif isinstance(unmodified, datetime) and modified > unmodified:
        raise precondition_failed("If-Unmodified-Since")
    fail = precondition_failed if prefix else None
    if if_none is not None:
        if _etag_matches(str(if_none), etag):
            raise fail("If-None-Match") if fail else not_modified()
    elif isinstance(since, datetime) and modified <= since:
        raise fail("If-Modified-Since") if fail else not_modified()


def check_write(params: dict[str, Any], etag: str | None) -> None:
    """If-None-Match / If-Match of a write (PutObject, CompleteMultipartUpload,
    DeleteObject) against the current version's ``etag`` (None: the key has no object,
    or a delete marker). Called inside the writing transaction, so two writers racing
    on ``If-None-Match: *`` see each other."""
    if params.get("IfNoneMatch") is not None and etag is not None:
        raise precondition_failed("If-None-Match")
    if_match = params.get("IfMatch")
    if if_match is not None:
        if etag is None:
            raise no_such_key(str(params.get("Bucket", "")), str(params.get("Key", "")))
        if not _etag_matches(str(if_match), etag):
            raise precondition_failed("If-Match")


def check_write_headers(params: dict[str, Any]) -> bool:
    """Whether a write is conditional; NotImplemented for an If-None-Match other than
    ``*`` (the only value S3 supports on writes)."""
    if_none = params.get("IfNoneMatch")
    if if_none is not None and str(if_none).strip() != "*":
        raise s3_error("NotImplemented", "A header you provided implies functionality that "
                       "is not implemented", 501, Header="If-None-Match")
    return if_none is not None or params.get("IfMatch") is not None


def conflict() -> Exception:
    """Another conditional write to the key won the race (AWS: 409, retry the request)."""
    return s3_error("ConditionalRequestConflict", "A conflicting conditional operation is "
                    "currently in progress against this resource. Please try again.", 409)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single ``bytes=`` range; None to serve the whole object."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - suffix), size
    start = int(first)
    end = int(last) + 1 if last else size
    if last and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    return start, min(end, size)


def _unsatisfiable(header: str, size: int) -> Exception:
    return s3_error("InvalidRange", "The requested range is not satisfiable", 416,
                    RangeRequested=header, ActualObjectSize=size,
                    headers={"Content-Range": f"bytes */{size}"})
