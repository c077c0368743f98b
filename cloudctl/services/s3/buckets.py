"""Bucket operations: create, head, delete, list, location, versioning state, ACL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import identity, ownership, public_access
from cloudctl.services.s3.account_access import account_settings
from cloudctl.services.s3.base import POLICIES, S3Provider, check_bucket_name
from cloudctl.services.s3.errors import malformed_xml, no_such_bucket, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object, S3Upload

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def bucket_features(params: dict[str, Any], acl: acls.Acl, owner: identity.Owner
                    ) -> dict[str, Any]:
    """Columns CreateBucket sets from ``x-amz-bucket-object-lock-enabled`` (Object Lock,
    which turns versioning on) and ``x-amz-object-ownership``."""
    out: dict[str, Any] = {}
    if params.get("ObjectLockEnabledForBucket"):
        out.update(object_lock='{"ObjectLockEnabled":"Enabled"}', versioning="Enabled")
    mode = params.get("ObjectOwnership")
    if mode is not None:
        if mode not in ownership.MODES:
            raise s3_error("InvalidArgument", "Invalid x-amz-object-ownership header",
                           ArgumentName="x-amz-object-ownership", ArgumentValue=str(mode))
        if mode == ownership.ENFORCED and len(acl.get("Grants") or []) > 1:
            raise s3_error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set "
                           "with ObjectOwnership's BucketOwnerEnforced setting")
        out["ownership"] = str(mode)
    return out


def _taken(name: str, account: str, owner_account: str) -> AwsError:
    """CreateBucket's answer for a name that exists (``owner_account`` owns it)."""
    if owner_account == account:
        return s3_error("BucketAlreadyOwnedByYou", "Your previous request to create the "
                        "named bucket succeeded and you already own it.", 409, BucketName=name)
    return s3_error("BucketAlreadyExists", "The requested bucket name is not available. "
                    "The bucket namespace is shared by all users of the system. Please "
                    "select a different name and try again.", 409, BucketName=name)


async def create_buckets(cloud: Cloud, account: str, names: Sequence[str]
                         ) -> list[AwsError | None]:
    """Many ``CreateBucket`` (private, the cloud's region; each authorised by the
    caller) in one transaction: None for each bucket made, or the error its own call
    would answer (a bad name, a name taken, earlier in the batch too), the buckets one
    Core INSERT (the ORM's objects and flush were 1.7 ms for 33, this 0.6 ms). A
    concurrent create of one of the names fails the transaction: the buckets are then
    made one transaction each, as separate calls."""
    out: list[AwsError | None] = [None] * len(names)
    for index, name in enumerate(names):
        try:
            check_bucket_name(name)
        except AwsError as error:
            out[index] = error
    wanted = [n for n, o in zip(names, out, strict=True) if o is None]
    try:
        async with cloud.sessions() as session, session.begin():
            owners = dict((await session.execute(select(S3Bucket.name, S3Bucket.account_id)
                                                 .where(S3Bucket.name.in_(wanted)))).all())
            owner = await identity.owner_of(session, account)
            acl = acls.dump(acls.canned("private", owner))
            now = utcnow()
            rows: list[dict[str, Any]] = []
            for index, name in enumerate(names):
                if out[index] is not None:
                    continue
                if name in owners:
                    out[index] = _taken(name, account, owners[name])
                    continue
                owners[name] = account
                rows.append({"name": name, "account_id": account, "region": cloud.region,
                             "acl": acl, "created_at": now, "versioning": ""})
            if rows:  # one INSERT of them all (Core: no ORM object and flush a bucket)
                await session.execute(insert(cast(Table, S3Bucket.__table__)), rows)
    except IntegrityError:
        if len(names) == 1:
            return [_taken(names[0], account, "")]
        return [(await create_buckets(cloud, account, [n]))[0] if o is None else o
                for n, o in zip(names, out, strict=True)]
    for name in wanted:
        cloud.runtime[POLICIES].forget(name)
    return out


class BucketProvider(S3Provider):
    """CreateBucket, HeadBucket, DeleteBucket, ListBuckets and per-bucket basics."""

    @operation("CreateBucket")
    async def create_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        name = str(params["Bucket"])
        check_bucket_name(name)
        config = params.get("CreateBucketConfiguration") or {}
        region = str(config.get("LocationConstraint") or self.cloud.region)
        if region != self.cloud.region:  # this endpoint is the cloud's one region
            raise s3_error("IllegalLocationConstraintException",
                           f"The {region} location constraint is incompatible for the region "
                           "specific endpoint this request was sent to.", BucketName=name)
        async with self.cloud.sessions() as session:
            existing = await session.get(S3Bucket, name)
            if existing is None:
                owner = await identity.owner_of(session, account)
                acl = await acls.from_request(session, params, owner) or acls.canned("private", owner)
                session.add(S3Bucket(name=name, account_id=account, region=region,
                                     acl=acls.dump(acl), **bucket_features(params, acl, owner)))
                try:
                    await session.commit()
                    self.forget(name)
                    return {"Location": f"/{name}"}
                except IntegrityError:
                    await session.rollback()
                    existing = await session.get(S3Bucket, name)
            if existing is not None and existing.account_id == account:
                raise s3_error("BucketAlreadyOwnedByYou", "Your previous request to create the "
                               "named bucket succeeded and you already own it.", 409,
                               BucketName=name)
            raise s3_error("BucketAlreadyExists", "The requested bucket name is not available. "
                           "The bucket namespace is shared by all users of the system. Please "
                           "select a different name and try again.", 409, BucketName=name)

    @operation("HeadBucket")
    async def head_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:ListBucket", "READ")
            return {"BucketRegion": bucket.region}

    @operation("DeleteBucket")
    async def delete_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], "s3:DeleteBucket")
            if await session.scalar(select(_holds_anything(bucket.name))):
                raise _not_empty(bucket.name)
            await session.delete(bucket)
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("ListBuckets")
    async def list_buckets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = ctx.require_account()
        async with self.cloud.sessions() as session:
            owner = await identity.owner_of(session, account)
            query = select(S3Bucket).where(S3Bucket.account_id == account).order_by(S3Bucket.name)
            prefix = params.get("Prefix")
            if prefix:
                query = query.where(S3Bucket.name.startswith(prefix, autoescape=True))
            rows = (await session.execute(query)).scalars().all()
        return {
            "Buckets": [{"Name": b.name, "CreationDate": b.created_at, "BucketRegion": b.region}
                        for b in rows],
            "Owner": {"ID": owner.canonical_id, "DisplayName": owner.display_name},
        }

    @operation("GetBucketLocation")
    async def get_bucket_location(self, ctx: RequestContext,
                                  params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketLocation", "READ")
        # the default region answers an empty LocationConstraint, as us-east-1 on AWS
        return {"LocationConstraint": None if bucket.region == self.cloud.region
                else bucket.region}

    @operation("GetBucketVersioning")
    async def get_bucket_versioning(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketVersioning")
        return {"Status": bucket.versioning} if bucket.versioning else {}

    @operation("PutBucketVersioning")
    async def put_bucket_versioning(self, ctx: RequestContext,
                                    params: dict[str, Any]) -> dict[str, Any]:
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:PutBucketVersioning")
            if bucket.object_lock and status != "Enabled":
                raise s3_error("InvalidBucketState", "An Object Lock configuration is present "
                               "on this bucket, so the versioning state cannot be changed.", 409)
            bucket.versioning = str(status)
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketAcl")
    async def get_bucket_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:GetBucketAcl", "READ_ACP")
            if ownership.enforced(bucket):
                return ownership.owner_acl(await identity.owner_of(session, bucket.account_id))
        return acls.load(bucket.acl)

    @operation("PutBucketAcl")
    async def put_bucket_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:PutBucketAcl", "WRITE_ACP")
            owner = await identity.owner_of(session, bucket.account_id)
            acl = await acls.from_request(session, params, owner)
            if acl is None:
                raise s3_error("MissingSecurityHeader", "Your request was missing a required "
                               "header", MissingHeaderName="x-amz-acl")
            ownership.check_bucket_acl(bucket, acl, owner)
            public_access.refuse_public_acl(
                bucket, acl, await account_settings(self.cloud, bucket.account_id))
            bucket.acl = acls.dump(acl)
            await session.commit()
        self.forget(bucket.name)
        return {}


def _holds_anything(bucket: Any) -> Any:
    """The condition DeleteBucket refuses on: an object or an upload in ``bucket`` (a
    name or the bucket's name column)."""
    return exists().where(S3Object.bucket == bucket) | exists().where(S3Upload.bucket == bucket)


def _not_empty(name: str) -> AwsError:
    return s3_error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409,
                    BucketName=name)


async def delete_buckets(cloud: Cloud, ctxs: Sequence[RequestContext], names: Sequence[str]
                         ) -> list[AwsError | None] | None:
    """Many ``DeleteBucket`` (``ctxs``: each call's context, authorised by the cloud's
    authorizer) in one transaction: None for each bucket deleted, or the error its own
    call would answer, checked in its order (NoSuchBucket, the bucket's policy and ACL,
    BucketNotEmpty); only that bucket stays. None when a concurrent change failed the
    transaction (nothing deleted: the caller makes each deletion its own call)."""
    if not names:
        return []
    provider = BucketProvider(cloud)
    out: list[AwsError | None] = [None] * len(names)
    gone: set[str] = set()
    try:
        async with cloud.sessions() as session, session.begin():
            found = {b.name: b for b in (await session.execute(select(S3Bucket).where(
                S3Bucket.name.in_(list(names))))).scalars()}
            busy = set((await session.execute(select(S3Bucket.name).where(
                S3Bucket.name.in_(list(found)), _holds_anything(S3Bucket.name)))).scalars())
            for index, (ctx, name) in enumerate(zip(ctxs, names, strict=True)):
                try:
                    # DeleteBucket's checks in its order (``owned_bucket``, then emptiness)
                    ctx.require_account()
                    bucket = found.get(name)
                    if bucket is None or name in gone:
                        raise no_such_bucket(name)
                    await provider.authorize(session, ctx, bucket, "s3:DeleteBucket",
                                             "FULL_CONTROL")
                    if name in busy:
                        raise _not_empty(name)
                except AwsError as error:
                    out[index] = error
                    continue
                gone.add(name)
            if gone:
                await session.execute(delete(S3Bucket).where(S3Bucket.name.in_(gone)))
    except IntegrityError:
        return None
    for name in gone:
        provider.forget(name)
    return out
