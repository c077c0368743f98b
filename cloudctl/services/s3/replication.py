"""Bucket replication within the cloud: Put/Get/DeleteBucketReplication and the copier.

A configuration needs versioning Enabled on the source and on every destination
bucket (which must exist), a role ARN the caller may pass (``iam:PassRole``), and
valid rules. A new version (or, when a rule says so, a delete marker) whose key and
tags match an enabled rule is stamped ``ReplicationStatus: PENDING`` in the same
transaction that makes it current (``stamp``); the replication controller (on the
shared reconcile base, leader only, one key per source bucket) copies each pending
version to the rule's destination with the same version id, the copy stamped
``REPLICA``, then marks the source ``COMPLETED`` (``FAILED`` when the destination
is gone or no longer versioned). A crash between the two steps copies nothing twice:
a replica already present is recognised by its version id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.core.reconcile import Leadership, Reconciler, Retry, always_leader
from cloudctl.server.cloud import Cloud
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.s3 import inline, sse
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.base import S3Provider, dumps, loads
from cloudctl.services.s3.errors import invalid_argument, malformed_xml, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object, object_row

log = logging.getLogger(__name__)

PENDING, COMPLETED, FAILED, REPLICA = "PENDING", "COMPLETED", "FAILED", "REPLICA"
_PENDING_TEXT = '%"ReplicationStatus":"PENDING"%'
_ROLE_RE = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@/-]+\Z")
BATCH = 100


def _destination(rule: dict[str, Any]) -> str:
    return str((rule.get("Destination") or {}).get("Bucket") or "").removeprefix(
        "arn:aws:s3:::")


def _matches(rule: dict[str, Any], key: str, tags: dict[str, str]) -> bool:
    flt = rule.get("Filter")
    if flt is None:
        return key.startswith(str(rule.get("Prefix") or ""))
    wanted: list[dict[str, Any]] = []
    prefix = str(flt.get("Prefix") or "")
    if flt.get("Tag"):
        wanted.append(flt["Tag"])
    if flt.get("And"):
        prefix = str(flt["And"].get("Prefix") or prefix)
        wanted += flt["And"].get("Tags") or []
    return key.startswith(prefix) and all(tags.get(str(t.get("Key"))) == t.get("Value")
                                          for t in wanted)


def rule_for(config: dict[str, Any], key: str, tags: dict[str, str],
             marker: bool = False) -> dict[str, Any] | None:
    """The enabled rule of highest priority replicating ``key`` (a delete marker: only
    a rule with DeleteMarkerReplication Enabled, and never tag-filtered)."""
    chosen: dict[str, Any] | None = None
    for rule in config.get("Rules") or []:
        if rule.get("Status") != "Enabled" or not _matches(rule, key, tags):
            continue
        if marker and (rule.get("DeleteMarkerReplication") or {}).get("Status") != "Enabled":
            continue
        if chosen is None or int(rule.get("Priority") or 0) > int(chosen.get("Priority") or 0):
            chosen = rule
    return chosen


def stamp(bucket: S3Bucket, row: S3Object) -> None:
    """Mark a new version PENDING when a rule replicates it (before it is installed)."""
    if not bucket.replication:
        return
    headers = loads(row.headers, {}) or {}
    headers.pop("ReplicationStatus", None)
    if rule_for(loads(bucket.replication, {}), row.key, loads(row.tags, {}) or {}):
        headers["ReplicationStatus"] = PENDING
    row.headers = dumps(headers)


async def stamp_marker(session: AsyncSession, bucket: S3Bucket, key: str,
                       out: dict[str, Any]) -> None:
    """Mark a new delete marker PENDING when a rule replicates delete markers."""
    if not bucket.replication or not out.get("DeleteMarker") or "VersionId" not in out:
        return
    if rule_for(loads(bucket.replication, {}), key, {}, marker=True) is None:
        return
    await session.execute(update(S3Object).where(
        S3Object.bucket == bucket.name, S3Object.key == key,
        S3Object.version_id == str(out["VersionId"]), S3Object.delete_marker.is_(True)
    ).values(headers=dumps({"ReplicationStatus": PENDING})))


def strip(headers: dict[str, Any]) -> None:
    headers.pop("ReplicationStatus", None)


def describe(headers: dict[str, Any], out: dict[str, Any]) -> None:
    if headers.get("ReplicationStatus"):
        out["ReplicationStatus"] = headers["ReplicationStatus"]


def _check_rules(rules: list[dict[str, Any]]) -> None:
    if not rules or len(rules) > 1000:
        raise malformed_xml()
    ids, priorities = set(), set()
    v2 = any("Filter" in rule for rule in rules)
    for rule in rules:
        if rule.get("Status") not in ("Enabled", "Disabled") or not _destination(rule):
            raise malformed_xml()
        rule_id = rule.get("ID")
        if rule_id is not None:
            if rule_id in ids:
                raise invalid_argument("Rule Id must be unique", "ID", str(rule_id))
            ids.add(rule_id)
        if v2:
            if "DeleteMarkerReplication" not in rule:
                raise invalid_argument("DeleteMarkerReplication must be specified for this "
                                       "version of Cross Region Replication configuration "
                                       "schema.")
            priority = int(rule.get("Priority") or 0)
            if priority in priorities:
                raise invalid_argument("Found duplicate priority " + str(priority) + " in the "
                                       "replication configuration", "Priority", str(priority))
            priorities.add(priority)


class ReplicationProvider(S3Provider):
    """Put/Get/DeleteBucketReplication; starts the replication controller."""

    @operation("PutBucketReplication")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        config = params.get("ReplicationConfiguration") or {}
        role = str(config.get("Role") or "")
        rules = list(config.get("Rules") or [])
        _check_rules(rules)
        if not _ROLE_RE.match(role):
            raise invalid_argument("Invalid ReplicationConfiguration Role", "Role", role)
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:PutReplicationConfiguration")
            if bucket.versioning != "Enabled":
                raise s3_error("InvalidRequest", "Versioning must be 'Enabled' on the bucket "
                               "to apply a replication configuration")
            for rule in rules:
                target = await session.get(S3Bucket, _destination(rule))
                if target is None:
                    raise s3_error("InvalidRequest", "Destination bucket must exist.")
                if target.versioning != "Enabled":
                    raise s3_error("InvalidRequest", "Destination bucket must have versioning "
                                   "enabled.")
                if target.name == bucket.name:
                    raise invalid_argument("Destination bucket cannot be the same as the "
                                           "source bucket.")
            from cloudctl.services.iam.api import require_pass_role

            await require_pass_role(self.cloud, ctx, role)
            bucket.replication = dumps({"Role": role, "Rules": rules})
            await session.commit()
        self.forget(bucket.name)
        controller = self.cloud.runtime.get(REPLICATION)
        if controller is not None:
            controller.wake(bucket.name)
        return {}

    @operation("GetBucketReplication")
    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetReplicationConfiguration")
        if not bucket.replication:
            raise s3_error("ReplicationConfigurationNotFoundError", "The replication "
                           "configuration was not found", 404, BucketName=bucket.name)
        return {"ReplicationConfiguration": loads(bucket.replication, {})}

    @operation("DeleteBucketReplication")
    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:PutReplicationConfiguration")
            bucket.replication = None
            await session.commit()
        self.forget(bucket.name)
        return {}

    async def start(self) -> None:
        controller = ReplicationController(self.cloud, self,
                                           leader=lambda: self.cloud.runs_controllers)
        self.cloud.runtime[REPLICATION] = controller
        self.cloud.spawn(controller.run(), "s3-replication")


class ReplicationController(Reconciler):
    """Copies pending versions of each replicated bucket (the key: the source bucket)."""

    name = "s3-replication"
    workers = 2
    idle_interval = 60.0  # no bucket replicates: PutBucketReplication wakes it

    def __init__(self, cloud: Cloud, provider: S3Provider, *,
                 leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.provider = provider

    def interval(self) -> float:
        return float(self.cloud.properties.get(props.REPLICATION_INTERVAL))

    async def list_keys(self) -> Iterable[str]:
        async with self.cloud.sessions() as session:
            return list((await session.execute(select(S3Bucket.name).where(
                S3Bucket.replication.is_not(None)))).scalars())

    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session:
            bucket = await session.get(S3Bucket, key)
            if bucket is None or not bucket.replication:
                return
            config = loads(bucket.replication, {})
            rows = list((await session.execute(select(S3Object).where(
                S3Object.bucket == key, S3Object.headers.like(_PENDING_TEXT)
            ).order_by(S3Object.seq).limit(BATCH))).scalars())
            for row in rows:
                session.expunge(row)
        for row in rows:
            rule = rule_for(config, row.key, loads(row.tags, {}) or {}, row.delete_marker)
            status = await self._copy(row, rule) if rule is not None else FAILED
            await self._mark(row, status)
        if len(rows) == BATCH:
            raise Retry(0.05)

    async def _mark(self, row: S3Object, status: str) -> None:
        headers = loads(row.headers, {}) or {}
        headers["ReplicationStatus"] = status
        async with self.cloud.sessions() as session:
            await session.execute(update(S3Object).where(
                S3Object.seq == row.seq, S3Object.headers.like(_PENDING_TEXT)
            ).values(headers=dumps(headers)))
            await session.commit()

    async def _copy(self, row: S3Object, rule: dict[str, Any]) -> str:
        """Write the replica of ``row`` into the rule's destination; its new status."""
        target_name = _destination(rule)
        async with self.cloud.sessions() as session:
            target = await session.get(S3Bucket, target_name)
            if target is None or target.versioning != "Enabled":
                log.warning("replication of %s/%s: destination %s unusable", row.bucket,
                            row.key, target_name)
                return FAILED
            present = (await session.execute(select(S3Object.seq).where(
                S3Object.bucket == target_name, S3Object.key == row.key,
                S3Object.version_id == row.version_id))).first()
            data = await inline.data_of(session, row) if inline.is_inline(row) else None
        if present is not None:
            return COMPLETED
        headers = loads(row.headers, {}) or {}
        headers["ReplicationStatus"] = REPLICA
        blob_id, size, inline_data, sse_key = None, 0, None, None
        if not row.delete_marker:
            from cloudctl.services.s3.copy import CopyProvider

            copier = next(p for p in self.cloud.providers if isinstance(p, CopyProvider))
            data_key = sse.DataKey.new() if row.sse_key else None
            stored = await inline.store(
                self.provider.store, copier._chunks(row, data),
                limit=int(self.cloud.properties.get(props.INLINE_MAX_BYTES)),
                declared_size=row.size, expected_md5=None, data_key=data_key)
            blob_id, size, inline_data = stored.blob_id, stored.size, stored.inline_data
            if data_key is not None:
                sse_key = sse.record(self.cloud.secrets, data_key, [(0, 0)])
        storage_class = str((rule.get("Destination") or {}).get("StorageClass")
                            or row.storage_class)
        replica = object_row(bucket=target_name, key=row.key, version_id=row.version_id,
                             blob_id=blob_id, size=size, etag=row.etag,
                             last_modified=row.last_modified, owner_account=row.owner_account,
                             storage_class=storage_class, headers=dumps(headers), acl=row.acl,
                             tags=row.tags, sse_key=sse_key, parts=row.parts,
                             delete_marker=row.delete_marker, inline_data=inline_data)
        try:
            async with self.provider.writer(), self.cloud.sessions() as session:
                await session.execute(update(S3Object).where(
                    S3Object.bucket == target_name, S3Object.key == row.key,
                    S3Object.latest.is_(True)).values(latest=None))
                replica.latest = True
                session.add(replica)
                await session.commit()
        except Exception:
            if blob_id is not None:
                await self.provider.store.delete(blob_id)
            raise
        return COMPLETED



REPLICATION = RuntimeKey[ReplicationController]("s3.replication")
