"""Bucket and object configuration documents: tagging, CORS, policy, encryption, lifecycle.

Each is stored whole on its row as the plain data the model defines, validated
on the way in, and answered as stored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import access, cors, public_access, sse, versioning
from cloudctl.services.s3.access import POLICY_MAX_BYTES, policy_admin, policy_size
from cloudctl.services.s3.account_access import account_settings
from cloudctl.services.s3.base import HTTP_STATUS_KEY, S3Provider, dumps, loads
from cloudctl.services.s3.errors import invalid_argument, malformed_xml, s3_error
from cloudctl.services.s3.models import S3Bucket
from cloudctl.services.s3.tagging import BUCKET_TAGS, OBJECT_TAGS, tag_set


def _tag_list(text: str | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (loads(text, {}) or {}).items()]


class ConfigProvider(S3Provider):
    """Bucket tagging, CORS, policy and lifecycle; object tagging."""

    async def _get(self, ctx: RequestContext, params: dict[str, Any], action: str,
                   column: str) -> Any:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], action)
            return getattr(bucket, column)

    async def _set(self, ctx: RequestContext, params: dict[str, Any], action: str,
                   column: str, value: str | None) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], action)
            setattr(bucket, column, value)
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketTagging")
    async def get_bucket_tagging(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        text = await self._get(ctx, params, "s3:GetBucketTagging", "tags")
        if not text:
            raise s3_error("NoSuchTagSet", "The TagSet does not exist", 404,
                           BucketName=params["Bucket"])
        return {"TagSet": _tag_list(text)}

    @operation("PutBucketTagging")
    async def put_bucket_tagging(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        out = await self._set(ctx, params, "s3:PutBucketTagging", "tags",
                              dumps(tag_set(params, BUCKET_TAGS)))
        return {**out, HTTP_STATUS_KEY: 204}

    @operation("DeleteBucketTagging")
    async def delete_bucket_tagging(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "s3:PutBucketTagging", "tags", None)

    @operation("GetBucketCors")
    async def get_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        text = await self._get(ctx, params, "s3:GetBucketCORS", "cors")
        if not text:
            raise s3_error("NoSuchCORSConfiguration", "The CORS configuration does not exist",
                           404, BucketName=params["Bucket"])
        return {"CORSRules": loads(text, [])}

    @operation("PutBucketCors")
    async def put_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        cors.validate_rules(rules)
        return await self._set(ctx, params, "s3:PutBucketCORS", "cors", dumps(rules))

    @operation("DeleteBucketCors")
    async def delete_bucket_cors(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "s3:PutBucketCORS", "cors", None)

    async def _policy_bucket(self, session: AsyncSession, ctx: RequestContext,
                             params: dict[str, Any], action: str) -> S3Bucket:
        """The bucket whose policy ``action`` reads or replaces, after AWS's checks.

        Only identities of the owning account may manage a bucket policy (another
        account gets 405 even when a policy grants it). The owning account's root (and
        the cloud administrator) always may, whatever the policy says: a policy
        denying everyone cannot lock the bucket for good."""
        ctx.require_account()
        bucket = await self.bucket(session, params["Bucket"])
        if policy_admin(ctx, bucket.account_id):
            return bucket
        await self.authorize(session, ctx, bucket, action, "FULL_CONTROL")
        if ctx.account_id != bucket.account_id:
            raise s3_error("MethodNotAllowed", "The specified method is not allowed against "
                           "this resource.", 405, Method=ctx.wire.method,
                           ResourceType="BUCKETPOLICY")
        return bucket

    @operation("GetBucketPolicy")
    async def get_bucket_policy(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self._policy_bucket(session, ctx, params, "s3:GetBucketPolicy")
            text = bucket.policy
        if not text:
            raise s3_error("NoSuchBucketPolicy", "The bucket policy does not exist", 404,
                           BucketName=bucket.name)
        return {"Policy": text}

    @operation("PutBucketPolicy")
    async def put_bucket_policy(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("Policy")
        if not isinstance(text, str):
            raise s3_error("MalformedPolicy", "Policies must be valid JSON")
        if policy_size(text) > POLICY_MAX_BYTES:
            raise s3_error("PolicyTooLarge", "Policy exceeds the maximum allowed document size.")
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            raise s3_error("MalformedPolicy", "Policies must be valid JSON and the first "
                           "byte must be '{'") from None
        access.validate_policy(text)
        return await self._set_policy(ctx, params, "s3:PutBucketPolicy", text)

    @operation("DeleteBucketPolicy")
    async def delete_bucket_policy(self, ctx: RequestContext,
                                   params: dict[str, Any]) -> dict[str, Any]:
        return await self._set_policy(ctx, params, "s3:DeleteBucketPolicy", None)

    async def _set_policy(self, ctx: RequestContext, params: dict[str, Any], action: str,
                          text: str | None) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self._policy_bucket(session, ctx, params, action)
            public_access.refuse_public_policy(
                bucket, text, await account_settings(self.cloud, bucket.account_id))
            bucket.policy = text
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketEncryption")
    async def get_bucket_encryption(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        text = await self._get(ctx, params, "s3:GetEncryptionConfiguration", "encryption")
        if not text:
            raise s3_error("ServerSideEncryptionConfigurationNotFoundError", "The server side "
                           "encryption configuration was not found", 404,
                           BucketName=params["Bucket"])
        return {"ServerSideEncryptionConfiguration": loads(text, {})}

    @operation("PutBucketEncryption")
    async def put_bucket_encryption(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("ServerSideEncryptionConfiguration") or {}
        sse.check_configuration(config)
        return await self._set(ctx, params, "s3:PutEncryptionConfiguration", "encryption",
                               dumps(config))

    @operation("DeleteBucketEncryption")
    async def delete_bucket_encryption(self, ctx: RequestContext,
                                       params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "s3:PutEncryptionConfiguration", "encryption", None)

    @operation("GetBucketLifecycleConfiguration")
    async def get_lifecycle(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        text = await self._get(ctx, params, "s3:GetLifecycleConfiguration", "lifecycle")
        if not text:
            raise s3_error("NoSuchLifecycleConfiguration", "The lifecycle configuration does "
                           "not exist", 404, BucketName=params["Bucket"])
        rules = loads(text, [])
        for rule in rules:
            for action in ("Expiration", "Transition"):
                date = (rule.get(action) or {}).get("Date")
                if isinstance(date, str):
                    rule[action]["Date"] = datetime.fromisoformat(date)
        return {"Rules": rules}

    @operation("PutBucketLifecycleConfiguration")
    async def put_lifecycle(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not rules or len(rules) > 1000:
            raise malformed_xml()
        for rule in rules:
            if rule.get("Status") not in ("Enabled", "Disabled"):
                raise malformed_xml()
            expiration = rule.get("Expiration") or {}
            days = expiration.get("Days")
            if days is not None and int(days) <= 0:
                raise invalid_argument("'Days' for Expiration action must be a positive integer")
        return await self._set(ctx, params, "s3:PutLifecycleConfiguration", "lifecycle",
                               dumps(rules))

    @operation("DeleteBucketLifecycle")
    async def delete_lifecycle(self, ctx: RequestContext,
                               params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "s3:PutLifecycleConfiguration", "lifecycle", None)

    @operation("GetObjectTagging")
    async def get_object_tagging(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            row = await versioning.current(session, bucket.name, str(params["Key"]),
                                           params.get("VersionId"))
            await self.authorize(session, ctx, bucket,
                                 access.for_version("s3:GetObjectTagging",
                                                    params.get("VersionId")), "READ",
                                 key=row.key, object_acl=row.acl, object_owner=row.owner_account)
        out: dict[str, Any] = {"TagSet": _tag_list(row.tags)}
        if row.version_id != versioning.NULL:
            out["VersionId"] = row.version_id
        return out

    @operation("PutObjectTagging")
    async def put_object_tagging(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        tags = tag_set(params, OBJECT_TAGS)
        return await self._tag_object(ctx, params, dumps(tags), "s3:PutObjectTagging")

    @operation("DeleteObjectTagging")
    async def delete_object_tagging(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        return await self._tag_object(ctx, params, None, "s3:DeleteObjectTagging")

    async def _tag_object(self, ctx: RequestContext, params: dict[str, Any], tags: str | None,
                          action: str) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            row = await versioning.current(session, bucket.name, str(params["Key"]),
                                           params.get("VersionId"))
            await self.authorize(session, ctx, bucket,
                                 access.for_version(action, params.get("VersionId")), "WRITE",
                                 key=row.key,
                                 object_acl=row.acl, object_owner=row.owner_account)
            row.tags = tags
            await session.commit()
        return {"VersionId": row.version_id} if row.version_id != versioning.NULL else {}
