"""Inventory reports: what ``PutBucketInventoryConfiguration`` asks for, written as AWS does.

The inventory controller (on the shared reconcile base, leader only, one key per
source bucket with inventory configurations) writes a report of every enabled
configuration that is due: the first at once, then one per period (Daily: the
``objectstorage.inventory_interval_sec`` property, one day by default; Weekly: seven
of them). When the last report was written is read from the destination itself (the
newest ``manifest.json`` of the configuration), so nothing else is stored and a
restart or a new leader keeps the schedule.

A report, under ``<prefix>/<source-bucket>/<config-id>/`` of the destination bucket:

- ``data/<uuid>.csv.gz``: gzip CSV files (every field quoted, no header line) of the
  columns of ``FIELD_ORDER`` that apply: Bucket, Key (URL-encoded), VersionId,
  IsLatest and IsDeleteMarker when the configuration includes All versions, then the
  requested optional fields; objects in key order, versions newest first;
- ``<YYYY-MM-DDTHH-MMZ>/manifest.json`` (sourceBucket, destinationBucket, version,
  creationTimestamp, fileFormat, fileSchema, files with key, size and MD5checksum) and
  ``manifest.checksum`` (the MD5 of ``manifest.json``), written last: a manifest
  names only complete data files.

Delivery is permitted as AWS permits it, checked at every report: the destination
belongs to the source bucket's account, or its policy allows the S3 service principal
(``s3.amazonaws.com``) ``s3:PutObject``. A report that may not be delivered is not
written (and is tried again at the next resync).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import gzip
import hashlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import func, select

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.server.cloud import Cloud
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import delivery, identity
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.access_log import policy_allows_service
from cloudctl.services.s3.base import S3Provider, loads
from cloudctl.services.s3.models import S3Bucket, S3Object

log = logging.getLogger(__name__)

SERVICE_PRINCIPAL = "s3.amazonaws.com"
MANIFEST_VERSION = "2016-11-30"
ROWS_PER_FILE = 100_000
PAGE = 1000
VERSION_FIELDS = ("VersionId", "IsLatest", "IsDeleteMarker")
FIELD_ORDER = ("Size", "LastModifiedDate", "ETag", "StorageClass", "IsMultipartUploaded",
               "ReplicationStatus", "EncryptionStatus", "ObjectLockRetainUntilDate",
               "ObjectLockMode", "ObjectLockLegalHoldStatus", "IntelligentTieringAccessTier",
               "BucketKeyStatus", "ChecksumAlgorithm", "ObjectAccessControlList",
               "ObjectOwner")


def destination_of(config: dict[str, Any]) -> dict[str, Any]:
    dest: dict[str, Any] = (config.get("Destination") or {}).get("S3BucketDestination") or {}
    return dest


def target_name(config: dict[str, Any]) -> str:
    return str(destination_of(config).get("Bucket") or "").removeprefix("arn:aws:s3:::")


def base_key(config: dict[str, Any], source: str) -> str:
    """``<prefix>/<source>/<id>/`` (no leading part without a prefix)."""
    prefix = str(destination_of(config).get("Prefix") or "").strip("/")
    return f"{prefix + '/' if prefix else ''}{source}/{config['Id']}/"


def columns(config: dict[str, Any]) -> list[str]:
    """The report's columns, in the order AWS writes them."""
    wanted = set(config.get("OptionalFields") or [])
    names = ["Bucket", "Key"]
    if config.get("IncludedObjectVersions") == "All":
        names += VERSION_FIELDS
    return names + [f for f in FIELD_ORDER if f in wanted]


def period(cloud: Cloud, config: dict[str, Any]) -> timedelta:
    seconds = int(cloud.properties.get(props.INVENTORY_INTERVAL))
    weekly = (config.get("Schedule") or {}).get("Frequency") == "Weekly"
    return timedelta(seconds=seconds * (7 if weekly else 1))


def delivery_allowed(source: S3Bucket, target: S3Bucket) -> bool:
    return target.account_id == source.account_id \
        or policy_allows_service(target.policy, target.name, SERVICE_PRINCIPAL)


def _stamp(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") \
        + f"{when.microsecond // 1000:03d}Z"


def _encryption(headers: dict[str, Any]) -> str:
    return "SSE-S3" if headers.get("ServerSideEncryption") else "NOT-SSE"


def _acl_field(row: S3Object) -> str:
    """Base64 of the JSON grant list (as AWS's ObjectAccessControlList field)."""
    grants = []
    for grant in acls.load(row.acl).get("Grants") or []:
        grantee = grant.get("Grantee") or {}
        entry = {"permission": grant.get("Permission"), "type": grantee.get("Type")}
        for name in ("ID", "URI", "EmailAddress"):
            if grantee.get(name):
                entry[name[0].lower() + name[1:]] = grantee[name]
        grants.append(entry)
    text = json.dumps({"version": "2022-11-10", "status": "AVAILABLE", "grants": grants},
                      separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def row_values(row: S3Object, names: list[str], locked_bucket: bool,
               owners: dict[str, str]) -> list[str]:
    """One CSV line of ``row`` (a delete marker has only its identity columns)."""
    headers: dict[str, Any] = loads(row.headers, {}) or {}
    marker = row.delete_marker
    out: list[str] = []
    for name in names:
        value = ""
        if name == "Bucket":
            value = row.bucket
        elif name == "Key":
            value = quote_plus(row.key, safe="")
        elif name == "VersionId":
            value = "" if row.version_id == "null" else row.version_id
        elif name == "IsLatest":
            value = "true" if row.latest else "false"
        elif name == "IsDeleteMarker":
            value = "true" if marker else "false"
        elif name == "LastModifiedDate":
            value = _stamp(row.last_modified)
        elif name == "ObjectOwner":
            value = owners.get(row.owner_account, "")
        elif not marker:
            value = _object_field(row, headers, name, locked_bucket)
        out.append(value)
    return out


def _object_field(row: S3Object, headers: dict[str, Any], name: str,
                  locked_bucket: bool) -> str:
    if name == "Size":
        return str(row.size)
    if name == "ETag":
        return row.etag.strip('"')
    if name == "StorageClass":
        return row.storage_class
    if name == "IsMultipartUploaded":
        return "true" if row.parts else "false"
    if name == "ReplicationStatus":
        return str(headers.get("ReplicationStatus") or "")
    if name == "EncryptionStatus":
        return _encryption(headers)
    if name == "ObjectLockRetainUntilDate":
        until = headers.get("ObjectLockRetainUntilDate")
        with contextlib.suppress(TypeError, ValueError):
            return _stamp(datetime.fromisoformat(str(until)))
        return ""
    if name == "ObjectLockMode":
        return str(headers.get("ObjectLockMode") or "")
    if name == "ObjectLockLegalHoldStatus":
        status = headers.get("ObjectLockLegalHoldStatus")
        return str(status) if status else ("OFF" if locked_bucket else "")
    if name == "IntelligentTieringAccessTier":
        return "FREQUENT" if row.storage_class == "INTELLIGENT_TIERING" else ""
    if name == "BucketKeyStatus":
        return "DISABLED" if headers.get("ServerSideEncryption") else ""
    if name == "ChecksumAlgorithm":
        return ",".join(sorted(headers.get("Checksums") or {}))
    if name == "ObjectAccessControlList":
        return _acl_field(row)
    return ""


class InventoryController(Reconciler):
    """Writes the due inventory reports of each source bucket (the key: its name)."""

    name = "s3-inventory"
    workers = 1
    base_backoff = 2.0
    max_backoff = 600.0

    def __init__(self, cloud: Cloud, provider: S3Provider, *,
                 leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.provider = provider

    def interval(self) -> float:
        return float(min(int(self.cloud.properties.get(props.INVENTORY_INTERVAL)), 300))

    async def list_keys(self) -> Iterable[str]:
        async with self.cloud.sessions() as session:
            return list((await session.execute(select(S3Bucket.name).where(
                S3Bucket.inventory.is_not(None)))).scalars())

    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session:
            source = await session.get(S3Bucket, key)
            configs: dict[str, Any] = loads(source.inventory, {}) if source is not None else {}
        if source is None:
            return
        clock = datetime.now(UTC)
        for config in configs.values():
            if not config.get("IsEnabled"):
                continue
            last = await self.last_report(source.name, config)
            if last is not None and clock - last < period(self.cloud, config):
                continue
            async with self.cloud.sessions() as session:
                target = await session.get(S3Bucket, target_name(config))
            if target is None or not delivery_allowed(source, target):
                log.info("inventory %s of %s: no permitted destination", config.get("Id"),
                         source.name)
                continue
            await self.report(source, target, config)

    async def last_report(self, source: str, config: dict[str, Any]) -> datetime | None:
        """When the newest manifest of ``config`` was written (None: never)."""
        base = base_key(config, source)
        async with self.cloud.sessions() as session:
            newest: datetime | None = (await session.execute(
                select(func.max(S3Object.last_modified)).where(
                    S3Object.bucket == target_name(config), S3Object.key >= base,
                    S3Object.key < base + "\U0010ffff",
                    S3Object.key.like("%/manifest.json"),
                    S3Object.delete_marker.is_(False)))).scalar()
        if newest is not None and newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        return newest

    async def _rows(self, source: S3Bucket, config: dict[str, Any]) -> AsyncIterator[S3Object]:
        """The listed versions, in key order (versions newest first), page by page."""
        prefix = str((config.get("Filter") or {}).get("Prefix") or "")
        every = config.get("IncludedObjectVersions") == "All"
        after: tuple[str, int] | None = None
        while True:
            query = select(S3Object).where(S3Object.bucket == source.name)
            if prefix:
                query = query.where(S3Object.key >= prefix,
                                    S3Object.key < prefix + "\U0010ffff")
            if not every:
                query = query.where(S3Object.latest.is_(True),
                                    S3Object.delete_marker.is_(False))
            if after is not None:
                query = query.where((S3Object.key > after[0])
                                    | ((S3Object.key == after[0]) & (S3Object.seq < after[1])))
            async with self.cloud.sessions() as session:
                rows = list((await session.execute(query.order_by(
                    S3Object.key, S3Object.seq.desc()).limit(PAGE))).scalars())
                for row in rows:
                    session.expunge(row)
            for row in rows:
                yield row
            if len(rows) < PAGE:
                return
            after = (rows[-1].key, rows[-1].seq)

    async def report(self, source: S3Bucket, target: S3Bucket, config: dict[str, Any]) -> None:
        """Write one complete report of ``config``: data files, then the manifest."""
        names = columns(config)
        base = base_key(config, source.name)
        locked = bool(source.object_lock)
        owners: dict[str, str] = {}
        files: list[dict[str, Any]] = []
        lines: list[list[str]] = []

        async def flush() -> None:
            buffer = io.StringIO()
            csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(lines)
            body = gzip.compress(buffer.getvalue().encode(), mtime=0)
            data_key = f"{base}data/{uuid.uuid4()}.csv.gz"
            await self.put(target, data_key, body, "application/x-gzip")
            files.append({"key": data_key, "size": len(body),
                          "MD5checksum": hashlib.md5(body).hexdigest()})
            lines.clear()

        async for row in self._rows(source, config):
            if "ObjectOwner" in names and row.owner_account not in owners:
                async with self.cloud.sessions() as session:
                    owner = await identity.owner_of(session, row.owner_account)
                owners[row.owner_account] = owner.canonical_id
            lines.append(row_values(row, names, locked, owners))
            if len(lines) >= ROWS_PER_FILE:
                await flush()
        if lines or not files:
            await flush()
        created = datetime.now(UTC)
        manifest = {
            "sourceBucket": source.name,
            "destinationBucket": f"arn:aws:s3:::{target.name}",
            "version": MANIFEST_VERSION,
            "creationTimestamp": str(int(created.timestamp() * 1000)),
            "fileFormat": "CSV",
            "fileSchema": ", ".join(names),
            "files": files,
        }
        body = json.dumps(manifest, indent=2).encode()
        folder = f"{base}{created.strftime('%Y-%m-%dT%H-%MZ')}/"
        await self.put(target, folder + "manifest.checksum",
                       hashlib.md5(body).hexdigest().encode(), "text/plain")
        await self.put(target, folder + "manifest.json", body, "application/json")
        log.info("inventory %s of %s: %d files written to %s", config.get("Id"), source.name,
                 len(files), target.name)

    async def put(self, target: S3Bucket, key: str, body: bytes, content_type: str) -> None:
        """Store ``body`` as the current version of ``key``, owned by the destination's
        account."""
        await delivery.put_object(self.provider, target, key, body, content_type)


class InventoryProvider(S3Provider):
    """Owns the inventory controller (leader only); serves no operation."""

    async def start(self) -> None:
        controller = InventoryController(self.cloud, self,
                                         leader=lambda: self.cloud.runs_controllers)
        self.cloud.runtime[INVENTORY] = controller

        async def wake(name: str, value: Any) -> None:
            controller.resync_now()

        self.cloud.properties.on_change(props.INVENTORY_INTERVAL.name, wake)
        self.cloud.spawn(controller.run(), "s3-inventory")


INVENTORY = RuntimeKey[InventoryController]("s3.inventory")
