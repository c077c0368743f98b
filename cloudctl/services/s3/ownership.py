"""Object Ownership of a bucket: Put/Get/DeleteBucketOwnershipControls and its effects.

- ``BucketOwnerEnforced``: ACLs are disabled. Requests setting an ACL other than
  ``bucket-owner-full-control`` (objects) or one giving the bucket owner full control
  (bucket) fail with AccessControlListNotSupported (400); every new object belongs to
  the bucket owner; GetObjectAcl/GetBucketAcl answer full control for the bucket
  owner; stored ACL grants no longer authorize anything (``access.check``).
- ``BucketOwnerPreferred``: an object written with ``bucket-owner-full-control``
  belongs to the bucket owner; otherwise to its writer.
- ``ObjectWriter`` (the default when none is set): the writer owns the object.
"""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3.base import S3Provider
from cloudctl.services.s3.errors import malformed_xml, s3_error
from cloudctl.services.s3.identity import Owner
from cloudctl.services.s3.models import S3Bucket

ENFORCED = "BucketOwnerEnforced"
PREFERRED = "BucketOwnerPreferred"
WRITER = "ObjectWriter"
MODES = (ENFORCED, PREFERRED, WRITER)


def enforced(bucket: S3Bucket) -> bool:
    return bucket.ownership == ENFORCED


def not_supported() -> Exception:
    return s3_error("AccessControlListNotSupported", "The bucket does not allow ACLs")


def check_object_acl(bucket: S3Bucket, params: dict[str, Any]) -> None:
    """AccessControlListNotSupported for an object write setting an ACL the bucket's
    ownership refuses (with ACLs disabled: anything but bucket-owner-full-control)."""
    if not enforced(bucket):
        return
    if acls.grants_requested(params) or params.get("ACL") not in (
            None, "", "bucket-owner-full-control"):
        raise not_supported()


def check_bucket_acl(bucket: S3Bucket, acl: dict[str, Any], owner: Owner) -> None:
    """PutBucketAcl with ACLs disabled: only an ACL giving the owner full control alone."""
    if not enforced(bucket):
        return
    grants = acl.get("Grants") or []
    if len(grants) != 1 or grants[0].get("Permission") != "FULL_CONTROL" \
            or (grants[0].get("Grantee") or {}).get("ID") != owner.canonical_id:
        raise not_supported()


def object_owner(bucket: S3Bucket, writer: str, params: dict[str, Any]) -> str:
    """The account owning an object ``writer`` writes into ``bucket``."""
    if bucket.ownership == ENFORCED:
        return bucket.account_id
    if bucket.ownership == PREFERRED and params.get("ACL") == "bucket-owner-full-control":
        return bucket.account_id
    return writer


def owner_acl(owner: Owner) -> dict[str, Any]:
    """The ACL answered with ACLs disabled: full control to the bucket owner."""
    return acls.canned("private", owner)


class OwnershipProvider(S3Provider):
    """Put/Get/DeleteBucketOwnershipControls."""

    @operation("PutBucketOwnershipControls")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("OwnershipControls") or {}).get("Rules") or []
        if len(rules) != 1 or rules[0].get("ObjectOwnership") not in MODES:
            raise malformed_xml()
        return await self._store(ctx, params, "s3:PutBucketOwnershipControls",
                                 str(rules[0]["ObjectOwnership"]))

    @operation("DeleteBucketOwnershipControls")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._store(ctx, params, "s3:PutBucketOwnershipControls", None)

    async def _store(self, ctx: RequestContext, params: dict[str, Any], action: str,
                     value: str | None) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], action)
            if value == ENFORCED:
                bucket_acl = acls.load(bucket.acl)
                extra = [g for g in bucket_acl.get("Grants") or []
                         if (g.get("Grantee") or {}).get("ID")
                         != (bucket_acl.get("Owner") or {}).get("ID")
                         and (g.get("Grantee") or {}).get("URI") != acls.LOG_DELIVERY]
                if extra:  # AWS: reset the bucket ACL before disabling ACLs
                    raise s3_error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have "
                                   "ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
            bucket.ownership = value
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketOwnershipControls")
    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketOwnershipControls")
        if not bucket.ownership:
            raise s3_error("OwnershipControlsNotFoundError", "The bucket ownership controls "
                           "were not found", 404, BucketName=bucket.name)
        return {"OwnershipControls": {"Rules": [{"ObjectOwnership": bucket.ownership}]}}
