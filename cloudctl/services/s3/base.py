"""What every S3 provider shares: the blob store, bucket lookup, access checks, helpers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.protocol.restxml import HTTP_STATUS_KEY
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.s3 import access, fastsql, identity, pgsql
from cloudctl.services.s3.errors import no_such_bucket, s3_error
from cloudctl.services.s3.identity import Owner
from cloudctl.services.s3.models import S3Bucket
from cloudctl.services.s3.store import StoreHolder
from storagectl.objects import BlobStore

STORE = RuntimeKey[StoreHolder]("s3.store")
POLICIES = RuntimeKey[access.BucketPolicies]("s3.policies")
SQLITE_WRITER = RuntimeKey[asyncio.Lock]("s3.sqlite_writer")

__all__ = ["HTTP_STATUS_KEY", "S3Provider", "dumps", "loads", "quote_etag", "unquote_etag"]

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+\Z")


def check_bucket_name(name: str) -> None:
    if (not _BUCKET_RE.match(name) or ".." in name or _IP_RE.match(name)
            or ".-" in name or "-." in name or name.startswith("xn--")
            or name.endswith("-s3alias")):
        raise s3_error("InvalidBucketName", "The specified bucket is not valid.",
                       BucketName=name)


MAX_KEY_BYTES = 1024
_Op = TypeVar("_Op", bound=Callable[..., Awaitable[dict[str, Any]]])


def check_key(key: str) -> None:
    """KeyTooLongError for a key longer than S3 allows (1,024 bytes of UTF-8)."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise s3_error("KeyTooLongError", "Your key is too long", Size=size,
                       MaxSizeAllowed=MAX_KEY_BYTES)


def writes_key(method: _Op) -> _Op:
    """Mark an operation that creates or writes the object ``params["Key"]`` (PutObject,
    multipart, copy destinations): the key length is checked before anything else."""

    @functools.wraps(method)
    async def checked(self: Any, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        check_key(str(params["Key"]))
        return await method(self, ctx, params)

    return cast(_Op, checked)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def unquote_etag(etag: str) -> str:
    return etag.strip().strip('"')


def now() -> datetime:
    """Object times at S3's precision: milliseconds (listings show them; `aws s3 sync`
    compares them with file times, so whole seconds would make it upload again)."""
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


class LazySession:
    """A session opened on first call: most object requests need no query beyond the
    raw statements of ``fastsql`` (an unused AsyncSession still costs ~0.14 ms)."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._session: AsyncSession | None = None

    def __call__(self) -> AsyncSession:
        if self._session is None:
            self._session = self._factory()
        return self._session

    async def __aenter__(self) -> LazySession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


AnySession = AsyncSession | LazySession


def opened(session: AnySession) -> AsyncSession:
    """The session itself, or the lazy one opened now."""
    return session() if isinstance(session, LazySession) else session


class S3Provider(Provider):
    """Base of the S3 providers (buckets, objects, listing, multipart, configuration)."""

    service: ClassVar[str] = "s3"

    @property
    def holder(self) -> StoreHolder:
        return self.cloud.runtime[STORE]

    @property
    def store(self) -> BlobStore:
        return self.holder.store

    def writer(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Serialises this process's object-version transactions on SQLite.

        SQLite has one writer; concurrent transactions would wait in its busy
        handler, which sleeps in growing steps. Queuing them in the process is
        cheaper. PostgreSQL takes them concurrently.
        """
        if self.cloud.engine.dialect.name != "sqlite":
            return contextlib.nullcontext()
        return self.cloud.runtime.setdefault(SQLITE_WRITER, asyncio.Lock)

    @property
    def fast(self) -> fastsql.FastObjects | None:
        """Raw SQLite statements for current-version PUT/GET (None on PostgreSQL)."""
        return fastsql.for_cloud(self.cloud)

    @property
    def reads(self) -> fastsql.FastObjects | pgsql.PgObjects | None:
        """Single-statement reads of current versions: raw SQLite (``fastsql``) or one
        PostgreSQL round trip (``pgsql``); None on other databases."""
        return fastsql.for_cloud(self.cloud) or pgsql.for_cloud(self.cloud)

    def forget(self, name: str) -> None:
        """Drop this process's cached snapshot of a bucket this request changed."""
        self.cloud.runtime[POLICIES].forget(name)

    async def snapshot(self, name: str) -> S3Bucket:
        """A cached, detached copy of the bucket row (up to a second old); read only."""
        row: S3Bucket | None = await self.cloud.runtime[POLICIES].row(name)
        if row is None:
            raise no_such_bucket(name)
        return row

    async def bucket(self, session: AsyncSession, name: str) -> S3Bucket:
        row = await session.get(S3Bucket, name)
        if row is None:
            raise no_such_bucket(name)
        return row

    async def caller(self, session: AnySession, ctx: RequestContext) -> Owner | None:
        account = ctx.account_id
        if account is None:
            return None
        return identity.cached(account) or await identity.owner_of(opened(session), account)

    async def authorize(self, session: AnySession, ctx: RequestContext, bucket: S3Bucket,
                        action: str, permission: str, *, key: str | None = None,
                        object_acl: str | None = None, object_owner: str | None = None) -> None:
        if bucket.request_payment:
            from cloudctl.services.s3.bucket_options import check_payer

            check_payer(ctx, bucket)
        cred = ctx.credential
        if (cred is not None and cred.account_id == bucket.account_id and not bucket.policy
                and cred.attributes.get("account_admin") and not cred.is_temporary):
            return  # the owning account's root on a bucket without a policy
        caller = await self.caller(session, ctx)
        await access.check(self.cloud, ctx, bucket, action, permission, key=key,
                           object_acl=object_acl, object_owner=object_owner,
                           caller_canonical=caller.canonical_id if caller else None)

    async def owned_bucket(self, session: AsyncSession, ctx: RequestContext, name: str,
                           action: str, permission: str = "FULL_CONTROL") -> S3Bucket:
        """The bucket, after checking the caller may run a configuration ``action``."""
        if permission == "FULL_CONTROL":
            ctx.require_account()
        bucket = await self.bucket(session, name)
        await self.authorize(session, ctx, bucket, action, permission)
        return bucket
