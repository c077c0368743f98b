"""Block Public Access of a bucket: Put/Get/DeletePublicAccessBlock, and its enforcement.

The four settings, as AWS applies them:

- ``BlockPublicAcls``: a request that would store a public ACL (PutBucketAcl,
  PutObjectAcl, PutObject/CopyObject/CreateMultipartUpload with an ACL) is refused
  with AccessDenied (``refuse_public_acl``);
- ``IgnorePublicAcls``: grants to AllUsers/AuthenticatedUsers in the bucket's and its
  objects' ACLs grant nothing (``effective_acl``);
- ``BlockPublicPolicy``: PutBucketPolicy with a public policy is refused with
  AccessDenied (``refuse_public_policy``);
- ``RestrictPublicBuckets``: while the bucket policy is public, it grants only to
  principals of the owning account (and AWS service principals, which this cloud's
  callers never are): for anyone else the policy is left out (``effective_policy``).

"Public" as AWS defines it: an ACL granting to AllUsers or AuthenticatedUsers; a
policy with an Allow statement for Principal ``*`` (or a NotPrincipal) that no
condition pins to fixed values of a restricting key (aws:SourceIp other than a
wildcard range, aws:SourceVpc(e), aws:SourceAccount, aws:SourceArn, aws:SourceOwner,
aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalOrgID, aws:userid...).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3.base import S3Provider, dumps, loads
from cloudctl.services.s3.errors import access_denied, malformed_xml, s3_error
from cloudctl.services.s3.models import S3Bucket

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PUBLIC_GROUPS = (acls.ALL_USERS, acls.AUTHENTICATED_USERS)
RESTRICTING_KEYS = frozenset(k.lower() for k in (
    "aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceAccount", "aws:SourceArn",
    "aws:SourceOwner", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths", "aws:userid", "aws:PrincipalServiceName",
    "s3:DataAccessPointAccount", "s3:DataAccessPointArn", "aws:SourceOrgID",
    "aws:SourceOrgPaths"))
_WIDE_OPERATORS = ("stringlike", "stringnotequals", "stringnotlike", "arnlike", "arnnotequals",
                   "arnnotlike", "notipaddress")


#: an account without account-level settings
NONE: Mapping[str, bool] = MappingProxyType({name: False for name in SETTINGS})


def settings(bucket: S3Bucket, account: Mapping[str, bool] = NONE) -> dict[str, bool]:
    """The settings in force for ``bucket``: its own, or its account's
    (``account_access``: s3control PutPublicAccessBlock), either turns one on."""
    stored = (loads(bucket.public_access, {}) or {}) if bucket.public_access else {}
    return {name: bool(stored.get(name)) or account[name] for name in SETTINGS}


def _on(bucket: S3Bucket, account: Mapping[str, bool], name: str) -> bool:
    return bool(bucket.public_access or account[name]) and settings(bucket, account)[name]


def acl_is_public(acl: dict[str, Any]) -> bool:
    return any((grant.get("Grantee") or {}).get("URI") in PUBLIC_GROUPS
               for grant in acl.get("Grants") or [])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _restricting(conditions: Any) -> bool:
    """Whether a statement's conditions pin a restricting key to fixed values."""
    if not isinstance(conditions, dict):
        return False
    for operator, tests in conditions.items():
        op = str(operator).lower().removeprefix("forallvalues:").removeprefix("foranyvalue:")
        op = op.removesuffix("ifexists")
        if not isinstance(tests, dict) or op in _WIDE_OPERATORS:
            continue
        for key, values in tests.items():
            if str(key).lower() not in RESTRICTING_KEYS:
                continue
            values = [str(v) for v in _as_list(values)]
            if not values or any("*" in v or "?" in v for v in values):
                continue
            if str(key).lower() == "aws:sourceip":
                try:
                    if any(ipaddress.ip_network(v, strict=False).prefixlen < 8 for v in values):
                        continue  # 0.0.0.0/0 and the like restrict nothing
                except ValueError:
                    continue
            return True
    return False


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in _as_list(value) for value in principal.values())
    return False


def policy_is_public(text: str | None) -> bool:
    if not text:
        return False
    try:
        document = json.loads(text)
    except ValueError:
        return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    for statement in _as_list(statements or []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if ("NotPrincipal" in statement or _wildcard_principal(statement.get("Principal"))) \
                and not _restricting(statement.get("Condition")):
            return True
    return False


def refuse_public_acl(bucket: S3Bucket, acl: dict[str, Any] | None,
                      account: Mapping[str, bool] = NONE) -> None:
    """AccessDenied when BlockPublicAcls is on and ``acl`` (to be stored) is public."""
    if acl is not None and _on(bucket, account, "BlockPublicAcls") and acl_is_public(acl):
        raise access_denied()


def refuse_public_canned(bucket: S3Bucket, params: dict[str, Any],
                         account: Mapping[str, bool] = NONE) -> None:
    """``refuse_public_acl`` for the ACL a request asks for, before anything is read."""
    if not _on(bucket, account, "BlockPublicAcls"):
        return
    if str(params.get("ACL") or "") in ("public-read", "public-read-write",
                                          "authenticated-read"):
        raise access_denied()
    for name in acls.GRANT_HEADERS:
        value = str(params.get(name) or "")
        if any(group in value for group in PUBLIC_GROUPS):
            raise access_denied()
    if acl_is_public(params.get("AccessControlPolicy") or {}):
        raise access_denied()


def refuse_public_policy(bucket: S3Bucket, text: str | None,
                         account: Mapping[str, bool] = NONE) -> None:
    if _on(bucket, account, "BlockPublicPolicy") and policy_is_public(text):
        raise access_denied()


def effective_acl(bucket: S3Bucket, acl: dict[str, Any],
                  account: Mapping[str, bool] = NONE) -> dict[str, Any]:
    """The ACL authorization reads: public grants dropped under IgnorePublicAcls."""
    if not _on(bucket, account, "IgnorePublicAcls"):
        return acl
    kept = [g for g in acl.get("Grants") or []
            if (g.get("Grantee") or {}).get("URI") not in PUBLIC_GROUPS]
    return {**acl, "Grants": kept}


def effective_policy(bucket: S3Bucket, account_id: str | None,
                     account: Mapping[str, bool] = NONE) -> str | None:
    """The bucket policy as it applies to a caller of ``account_id`` (None: anonymous)."""
    if bucket.policy and account_id != bucket.account_id \
            and _on(bucket, account, "RestrictPublicBuckets") \
            and policy_is_public(bucket.policy):
        return None
    return bucket.policy


def policy_status(bucket: S3Bucket) -> bool:
    """Whether the bucket policy makes the bucket public (GetBucketPolicyStatus)."""
    return policy_is_public(bucket.policy)


class PublicAccessProvider(S3Provider):
    """Put/Get/DeletePublicAccessBlock and GetBucketPolicyStatus."""

    @operation("PutPublicAccessBlock")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("PublicAccessBlockConfiguration")
        if not isinstance(config, dict):
            raise malformed_xml()
        stored = {name: bool(config.get(name)) for name in SETTINGS}
        return await self._store(ctx, params, "s3:PutBucketPublicAccessBlock", dumps(stored))

    @operation("DeletePublicAccessBlock")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._store(ctx, params, "s3:PutBucketPublicAccessBlock", None)

    async def _store(self, ctx: RequestContext, params: dict[str, Any], action: str,
                     value: str | None) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], action)
            bucket.public_access = value
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetPublicAccessBlock")
    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketPublicAccessBlock")
        if not bucket.public_access:
            raise s3_error("NoSuchPublicAccessBlockConfiguration", "The public access block "
                           "configuration was not found", 404, BucketName=bucket.name)
        return {"PublicAccessBlockConfiguration": settings(bucket)}

    @operation("GetBucketPolicyStatus")
    async def policy_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketPolicyStatus")
        if not bucket.policy:
            raise s3_error("NoSuchBucketPolicy", "The bucket policy does not exist", 404,
                           BucketName=bucket.name)
        return {"PolicyStatus": {"IsPublic": policy_status(bucket)}}
