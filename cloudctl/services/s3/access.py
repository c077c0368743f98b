"""Who may do what to a bucket or object: IAM policies, the bucket policy, then ACLs.

S3 is declared to the request authorizer (``cloudctl.services.authz.declare``): this
module names the IAM action and resource ARN of each operation
(``arn:aws:s3:::bucket``, ``arn:aws:s3:::bucket/key``) and supplies the bucket policy
and owning account as the resource policy. The authorizer evaluates the caller's
identity policies together with the bucket policy (the IAM policy engine: explicit
Deny wins; same account: identity OR bucket policy; other account: both) and leaves
implicit denials whose identity policies allow (or anonymous callers) to ``check``
here, which then consults the ACL of the object or bucket, as AWS does (ACL or
policy allows; an explicit deny wins). Checks the authorizer could not name up front
(copy sources, each key of DeleteObjects) are decided here through
``PolicyAuthorizer.decide``.

Account admins (the account root) skip the authorizer's pass: their own buckets
without a policy are a fast path; with a policy, or another account's bucket, they
are decided here like everyone else. Bucket policy management (Get/Put/Delete
BucketPolicy) belongs to the owning account alone: its root (and the cloud admin)
always, whatever the policy says; other identities of the account through their
policies; other accounts never (405, as on AWS).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from cloudctl.protocol.wire import ParsedRequest
from cloudctl.server.cloud import Cloud
from cloudctl.server.context import RequestContext
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import fastsql, pgsql
from cloudctl.services.s3.errors import access_denied, s3_error
from cloudctl.services.s3.models import S3Bucket

VERDICTS = "authz.verdicts"
POLICY_TTL = 1.0

# IAM actions of operations not named s3:<Operation>; None: the provider checks each
ACTIONS: dict[str, str | None] = {
    "HeadBucket": "s3:ListBucket", "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket", "ListObjectVersions": "s3:ListBucketVersions",
    "HeadObject": "s3:GetObject", "ListBuckets": "s3:ListAllMyBuckets",
    "CopyObject": "s3:PutObject", "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "PostObject": "s3:PutObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketCors": "s3:GetBucketCORS", "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS", "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteObjects": None,
    # bucket policy management: owner account only, its root always (``policy_admin``)
    "GetBucketPolicy": None, "PutBucketPolicy": None, "DeleteBucketPolicy": None,
}
POLICY_MAX_BYTES = 20 * 1024  # AWS: bucket policies are limited to 20 KB


# the action of an operation on a named object version (a request with versionId)
VERSION_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion", "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
}


def for_version(action: str, version_id: Any) -> str:
    """``action``, or its version form when the request names a version (AWS: a GET
    with ``versionId`` needs ``s3:GetObjectVersion``, not ``s3:GetObject``)."""
    return VERSION_ACTIONS.get(action, action) if version_id is not None else action


def arn(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def operation_action(ctx: RequestContext, params: dict[str, Any]) -> str | None:
    action = ACTIONS.get(ctx.operation, f"s3:{ctx.operation}")
    return for_version(action, params.get("VersionId")) if action else action


def operation_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    bucket = params.get("Bucket")
    if not bucket:
        return []
    key = params.get("Key")
    return [arn(str(bucket), str(key) if key is not None else None)]


class BucketPolicies:
    """Bucket rows, cached: the authorizer's resource-policy hook (bucket policy, owner),
    the CORS rules of requests with an ``Origin``, and the bucket snapshot object
    writes and reads start from (saving a SELECT per request).

    Entries live ``POLICY_TTL`` seconds (other API processes see a bucket change that
    late at most; AWS itself documents delays for versioning and policy changes) and
    are dropped at once when this process changes a bucket. Rows are detached copies:
    read them, never change them.
    """

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._cache: dict[str, tuple[float, S3Bucket | None]] = {}
        self._loading: dict[str, asyncio.Future[S3Bucket | None]] = {}
        self._changes = 0  # bumped by forget: a load that overlapped a change is not kept

    def forget(self, bucket: str) -> None:
        self._cache.pop(bucket, None)
        self._loading.pop(bucket, None)  # a load under way may predate the change
        self._changes += 1

    async def lookup(self, ctx: RequestContext, parsed: ParsedRequest) -> tuple[str | None,
                                                                              str | None]:
        name = parsed.params.get("Bucket")
        if not name:
            return None, None
        row = await self.row(str(name))
        if row is None:
            return None, None
        from cloudctl.services.s3.account_access import account_settings
        from cloudctl.services.s3.public_access import effective_policy

        account = await account_settings(self.cloud, row.account_id)
        return effective_policy(row, ctx.account_id, account), row.account_id

    async def row(self, name: str) -> S3Bucket | None:
        """A detached snapshot of bucket ``name`` (None: no such bucket).

        One load per bucket at a time: requests that miss while it runs share it (an
        expiring entry would otherwise send every concurrent request to the database,
        each on a connection of its own)."""
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        loading = self._loading.get(name)
        if loading is None:
            loading = asyncio.ensure_future(self._load(name))
            self._loading[name] = loading
            loading.add_done_callback(lambda _: self._loading.pop(name, None))
        return await asyncio.shield(loading)

    async def _load(self, name: str) -> S3Bucket | None:
        changes = self._changes
        fast = fastsql.for_cloud(self.cloud) or pgsql.for_cloud(self.cloud)
        if fast is not None:  # one raw statement (SQLite, PostgreSQL), no session
            row = await fast.bucket(name)
        else:
            async with self.cloud.sessions() as session:
                row = await session.get(S3Bucket, name)
                if row is not None:
                    session.expunge(row)
        if len(self._cache) > 10000:
            self._cache.clear()
        if changes == self._changes:
            self._cache[name] = (time.monotonic() + POLICY_TTL, row)
        return row


def policy_size(text: str) -> int:
    """The size AWS holds against the 20 KB limit: UTF-8 bytes, whitespace left out."""
    return len("".join(text.split()).encode())


def policy_admin(ctx: RequestContext, owner: str) -> bool:
    """Whether the caller may always manage the bucket policy of account ``owner``: the
    owning account's root (AWS: even when the policy denies it) or the cloud admin."""
    credential = ctx.credential
    if credential is None:
        return False
    attrs = credential.attributes
    if attrs.get("cloud_admin") and not credential.is_temporary:
        return True
    return bool(attrs.get("account_admin")) and not credential.is_temporary \
        and credential.account_id == owner


# S3's MalformedPolicy wording for the part of a bucket policy at fault
_POLICY_MESSAGES = {
    "resource": "Policy has invalid resource", "principal": "Invalid principal in policy",
    "action": "Policy has invalid action", "condition": "Policy has an invalid condition key",
    "syntax": "Invalid policy syntax.", "version": "Invalid policy syntax.",
}


def validate_policy(text: str) -> None:
    """Raise S3's MalformedPolicy unless ``text`` is a valid bucket policy."""
    from cloudctl.services.iam.api import PolicyError
    from cloudctl.services.iam.api import validate_policy as validate

    try:
        json.loads(text)
    except (ValueError, RecursionError):
        raise s3_error("MalformedPolicy", "Policies must be valid JSON and the first byte "
                       "must be '{'") from None
    try:
        validate(text, kind="resource")
    except PolicyError as exc:
        message = ("Missing required field Principal" if exc.message.startswith("Missing")
                   else _POLICY_MESSAGES[exc.part])
        raise s3_error("MalformedPolicy", message) from None
    except ValueError:
        raise s3_error("MalformedPolicy", _POLICY_MESSAGES["syntax"]) from None


async def check(cloud: Cloud, ctx: RequestContext, bucket: S3Bucket, action: str,
                permission: str, *, key: str | None = None, object_acl: str | None = None,
                object_owner: str | None = None, caller_canonical: str | None = None) -> None:
    """Raise AccessDenied unless the caller may perform ``action`` (``s3:GetObject``...)."""
    resource = arn(bucket.name, key)
    verdict = (ctx.extra.get(VERDICTS) or {}).get((action, (resource,)))
    if verdict is None:
        decide: Any = getattr(cloud.authorizer, "decide", None)
        if decide is None:  # an authorizer without resource policies: ownership, ACLs
            verdict = ("Allow" if ctx.account_id == bucket.account_id else "ImplicitDeny",
                       True)
        else:
            from cloudctl.services.s3.account_access import account_settings
            from cloudctl.services.s3.public_access import effective_policy

            account = await account_settings(cloud, bucket.account_id)
            verdict = await decide(ctx, action, [resource],
                                   effective_policy(bucket, ctx.account_id, account),
                                   bucket.account_id)
    effect, identity_allows = verdict
    if effect == "Allow":
        return
    if effect == "Deny" or (ctx.credential is not None and not identity_allows):
        raise access_denied()
    caller = ctx.account_id
    if bucket.ownership == "BucketOwnerEnforced":  # ACLs disabled: only the owner's
        if caller is not None and caller == bucket.account_id:
            return
        raise access_denied()
    if caller is not None and caller == object_owner:
        return
    document = acls.load(object_acl if key is not None and object_acl else bucket.acl)
    from cloudctl.services.s3.account_access import account_settings
    from cloudctl.services.s3.public_access import effective_acl

    document = effective_acl(bucket, document, await account_settings(cloud, bucket.account_id))
    if acls.grants(document, caller_canonical, caller is not None, permission):
        return
    raise access_denied()


_CONTEXT_PARAMS = {"Prefix": "s3:prefix", "Delimiter": "s3:delimiter", "MaxKeys": "s3:max-keys",
                   "ACL": "s3:x-amz-acl", "VersionId": "s3:VersionId",
                   "ServerSideEncryption": "s3:x-amz-server-side-encryption",
                   "CopySource": "s3:x-amz-copy-source",
                   "MetadataDirective": "s3:x-amz-metadata-directive",
                   "StorageClass": "s3:x-amz-storage-class"}


def operation_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """S3 condition keys of the call (``s3:prefix``, ``s3:x-amz-acl``...)."""
    out: dict[str, Any] = {}
    for name, key in _CONTEXT_PARAMS.items():
        value = params.get(name)
        if value is not None:
            out[key] = str(value)
    if ctx.operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        out.setdefault("s3:prefix", "")
    return out
