"""S3 tag sets as AWS bounds them: 50 tags a bucket, 10 an object, keys of 1-128 and
values of 0-256 characters, no key twice.

Shared by PutBucketTagging, PutObjectTagging and the ``x-amz-tagging`` header of
object writes (PutObject, CopyObject with REPLACE, CreateMultipartUpload, POST).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.services.s3.errors import s3_error

BUCKET_TAGS = 50
OBJECT_TAGS = 10
KEY_MAX = 128
VALUE_MAX = 256


def too_many_tags(limit: int) -> AwsError:
    if limit == OBJECT_TAGS:
        return s3_error("BadRequest", f"Object tags cannot be greater than {OBJECT_TAGS}")
    return s3_error("BadRequest", f"Bucket tag count cannot be greater than {limit}")


def checked(pairs: Iterable[tuple[str, str]], limit: int) -> dict[str, str]:
    """``pairs`` as a tag dict, or AWS's error for the first bad tag, then the count."""
    tags: dict[str, str] = {}
    count = 0
    for key, value in pairs:
        count += 1
        if count > limit:
            raise too_many_tags(limit)
        if not key or len(key) > KEY_MAX:
            raise s3_error("InvalidTag", "The TagKey you have provided is invalid")
        if len(value) > VALUE_MAX:
            raise s3_error("InvalidTag", "The TagValue you have provided is invalid")
        if key in tags:
            raise s3_error("InvalidTag", "Cannot provide multiple Tags with the same key")
        if key.lower().startswith("aws:"):
            raise s3_error("InvalidTag", "System tags cannot be added/updated by requester")
        tags[key] = value
    return tags


def tag_set(params: dict[str, Any], limit: int) -> dict[str, str]:
    """The ``Tagging.TagSet`` of a Put*Tagging call, checked."""
    items = (params.get("Tagging") or {}).get("TagSet") or []
    if len(items) > limit:
        raise too_many_tags(limit)
    return checked(((str(t.get("Key", "")), str(t.get("Value", ""))) for t in items), limit)
