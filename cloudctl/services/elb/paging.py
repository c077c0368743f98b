"""ELB's Marker/PageSize paging over names sorted ascending (keyset: a page resumes
strictly after the last name served, so deletions meanwhile shift nothing)."""

from __future__ import annotations

import bisect
from typing import Any

from cloudctl.services.elb.common import ValidationError
from cloudctl.services.paging import BadCursor, decode_cursor, encode_cursor


def page(params: dict[str, Any], keys: list[str], operation: str,
         maximum: int) -> tuple[list[str], str | None]:
    """The keys of this page and the NextMarker (None on the last page)."""
    size = params.get("PageSize")
    limit = maximum
    if size is not None:
        limit = int(size)
        if not 1 <= limit <= maximum:
            raise ValidationError(f"PageSize must be between 1 and {maximum}")
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            after = str(decode_cursor(str(marker), operation))
        except BadCursor:
            raise ValidationError("Invalid value for Marker") from None
        start = bisect.bisect_right(keys, after)
    chunk = keys[start:start + limit]
    more = start + limit < len(keys)
    return chunk, encode_cursor(chunk[-1], operation) if more and chunk else None
