"""S3's batch of CreateBucket (``buckets.create_buckets``, CloudFormation's buckets of a
stack): each bucket made, or the error its own call would answer (a bad name, a name
taken before or earlier in the batch), the buckets written by one INSERT without ORM
objects (no unit-of-work flush). Against a real (migrated) database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cloudctl.db import migrate
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.errors import AwsError
from cloudctl.services.s3.base import POLICIES
from cloudctl.services.s3.buckets import create_buckets
from cloudctl.services.s3.models import S3Bucket

ACCOUNT = "000000000001"


@pytest.fixture()
def database(tmp_path: Path) -> str:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "cloud.db")
    migrate.upgrade(url)
    return url


def test_a_batch_is_one_insert_and_each_refusal_is_its_own(database: str) -> None:
    async def scenario() -> None:
        db = create_engine(database)
        sessions = session_factory(db)
        forgotten: list[str] = []
        cloud: Any = SimpleNamespace(sessions=sessions, region="eucalyptus", runtime={
            POLICIES: SimpleNamespace(forget=forgotten.append)})
        try:
            assert await create_buckets(cloud, ACCOUNT, ["old-bucket"]) == [None]
            inserts: list[bool] = []
            flushes: list[int] = []

            def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                     executemany: bool) -> None:
                if statement.startswith("INSERT INTO s3_buckets"):
                    inserts.append(executemany)

            def flushed(session: Session, *_args: Any) -> None:
                flushes.append(len(session.new))

            event.listen(db.sync_engine, "before_cursor_execute", seen)
            event.listen(Session, "before_flush", flushed)
            try:
                out = await create_buckets(cloud, ACCOUNT, [
                    "new-one", "Bad_Name", "old-bucket", "new-two", "new-one", "new-three"])
            finally:
                event.remove(db.sync_engine, "before_cursor_execute", seen)
                event.remove(Session, "before_flush", flushed)
            assert inserts == [True]  # the three new buckets, one executemany
            assert [f for f in flushes if f] == []  # no ORM object flushed
            assert [None if o is None else o.code for o in out] == [
                None, "InvalidBucketName", "BucketAlreadyOwnedByYou", None,
                "BucketAlreadyOwnedByYou", None]
            assert all(o is None or isinstance(o, AwsError) for o in out)
            async with sessions() as session:
                made = {b.name: b for b in (await session.execute(select(S3Bucket))).scalars()}
            assert sorted(made) == ["new-one", "new-three", "new-two", "old-bucket"]
            for bucket in made.values():
                assert (bucket.account_id, bucket.region, bucket.versioning) == \
                    (ACCOUNT, "eucalyptus", "")
                assert bucket.created_at is not None and '"Grant' in bucket.acl
            assert made["new-one"].acl == made["old-bucket"].acl  # private, as before
            assert sorted(forgotten) == ["new-one", "new-one", "new-three", "new-two",
                                         "old-bucket", "old-bucket"]  # valid names
        finally:
            await db.dispose()

    asyncio.run(scenario())
