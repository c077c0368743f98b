"""The bucket-feature checks every object write makes, in one place for the write paths
(PutObject, CopyObject, CreateMultipartUpload): ownership controls, Block Public
Access, Object Lock headers, replication bookkeeping. Each lives in its own module;
this one only gathers the calls the write paths share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudctl.services.s3 import object_lock, ownership, public_access, replication
from cloudctl.services.s3.models import S3Bucket

__all__ = ["check_object_write", "object_lock", "object_owner", "replication"]


def check_object_write(bucket: S3Bucket, params: dict[str, Any],
                       account: Mapping[str, bool]) -> None:
    """Refuse an object write whose ACL the bucket does not allow (ACLs disabled:
    AccessControlListNotSupported; a public ACL under BlockPublicAcls of the bucket or of
    its ``account``: AccessDenied)."""
    ownership.check_object_acl(bucket, params)
    public_access.refuse_public_canned(bucket, params, account)


def object_owner(bucket: S3Bucket, writer: str, params: dict[str, Any]) -> str:
    return ownership.object_owner(bucket, writer, params)
