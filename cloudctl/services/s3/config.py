"""Bucket and object configuration documents: tagging, CORS, policy, encryption, lifecycle.

Each is stored whole on its row as the plain data the model defines, validated
on the way in, and answered as stored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import access, sse, versioning
from cloudctl.services.s3.base import HTTP_STATUS_KEY, S3Provider, dumps, loads
from cloudctl.services.s3.errors import invalid_argument, malformed_xml, s3_error


def _tags(params: dict[str, Any]) -> dict[str, str]:
    tag_set = (params.get("Tagging") or {}).get("TagSet") or []
    tags: dict[str, str] = {}
    for tag in tag_set:
        key = str(tag.get("Key", ""))
        if not key or len(key) > 128 or len(str(tag.get("Value", ""))) > 256:
            raise s3_error("InvalidTag", "The TagKey you have provided is invalid")
        if key in tags:
            raise s3_error("InvalidTag", "Cannot provide multiple Tags with the same key")
        if key.lower().startswith("aws:"):
            raise s3_error("InvalidTag", "System tags cannot be added/updated by requester")
        tags[key] = str(tag.get("Value", ""))
    return tags


def _tag_set(text: str | None) -> list[dict[str, str]]:
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
        return {"TagSet": _tag_set(text)}

    @operation("PutBucketTagging")
    async def put_bucket_tagging(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        out = await self._set(ctx, params, "s3:PutBucketTagging", "tags", dumps(_tags(params)))
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
        if not rules or len(rules) > 100:
            raise malformed_xml()
        for rule in rules:
            for method in rule.get("AllowedMethods") or []:
                if method not in ("GET", "PUT", "POST", "DELETE", "HEAD"):
                    raise invalid_argument(f"Found unsupported HTTP method in CORS config. "
                                           f"Unsupported method is {method}")
        return await self._set(ctx, params, "s3:PutBucketCORS", "cors", dumps(rules))

    @operation("DeleteBucketCors")
    async def delete_bucket_cors(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "s3:PutBucketCORS", "cors", None)

    @operation("GetBucketPolicy")
    async def get_bucket_policy(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        text = await self._get(ctx, params, "s3:GetBucketPolicy", "policy")
        if not text:
            raise s3_error("NoSuchBucketPolicy", "The bucket policy does not exist", 404)
        return {"Policy": text}

    @operation("PutBucketPolicy")
    async def put_bucket_policy(self, ctx: RequestContext,
                                params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("Policy")
        if not isinstance(text, str):
            raise s3_error("MalformedPolicy", "Policies must be valid JSON")
        try:
            json.loads(text)
        except ValueError:
            raise s3_error("MalformedPolicy", "Policies must be valid JSON and the first "
                           "byte must be '{'") from None
        access.validate_policy(text)
        return await self._set(ctx, params, "s3:PutBucketPolicy", "policy", text)

    @operation("DeleteBucketPolicy")
    async def delete_bucket_policy(self, ctx: RequestContext,
                                   params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "s3:DeleteBucketPolicy", "policy", None)

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
        out: dict[str, Any] = {"TagSet": _tag_set(row.tags)}
        if row.version_id != versioning.NULL:
            out["VersionId"] = row.version_id
        return out

    @operation("PutObjectTagging")
    async def put_object_tagging(self, ctx: RequestContext,
                                 params: dict[str, Any]) -> dict[str, Any]:
        tags = _tags(params)
        if len(tags) > 10:
            raise s3_error("BadRequest", "Object tags cannot be greater than 10")
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
