"""The object storage controller: lifecycle rules and orphan blobs.

On the shared reconcile base, run by the leader only, on a timer
(``objectstorage.reconcile_interval_sec``) and once at start; each bucket with
lifecycle rules is a key of its own (a failing bucket backs off alone). It applies
every bucket's enabled lifecycle rules (expiration by days or date, noncurrent version
expiration, expired delete markers, aborting incomplete multipart
uploads) through the same version bookkeeping the API uses; then removes blobs no
row references once they are older than ``objectstorage.orphan_grace_sec`` (what a
crash between blob write and row commit leaves) and the store's own leftovers; the
first pass at start-up also removes those made before the cloud started (a kill -9
leaves a few per kill), without waiting for the grace period.
Every step is safe to repeat after a crash.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.services.s3 import object_lock, versioning
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.base import S3Provider, loads
from cloudctl.services.s3.models import S3Bucket, S3Object, S3Upload
from cloudctl.services.s3.store import blob_age

log = logging.getLogger(__name__)


def _matches(rule: dict[str, Any], key: str, tags: dict[str, str]) -> bool:
    flt = rule.get("Filter") or {}
    prefix = rule.get("Prefix") or flt.get("Prefix") or ""
    wanted: list[dict[str, str]] = []
    if flt.get("Tag"):
        wanted.append(flt["Tag"])
    if flt.get("And"):
        prefix = flt["And"].get("Prefix") or prefix
        wanted += flt["And"].get("Tags") or []
    if not key.startswith(prefix):
        return False
    return all(tags.get(t.get("Key", "")) == t.get("Value") for t in wanted)


def _expired(expiration: dict[str, Any], modified: datetime, clock: datetime) -> bool:
    days = expiration.get("Days")
    if days is not None:
        return clock >= modified + timedelta(days=int(days))
    date = expiration.get("Date")
    if isinstance(date, str):
        date = datetime.fromisoformat(date)
    if isinstance(date, datetime):
        return clock >= (date if date.tzinfo else date.replace(tzinfo=UTC))
    return False


ORPHANS = "orphans"


class S3Reconciler(Reconciler):
    """Keys: ``bucket:NAME`` (its lifecycle rules) and ``orphans`` (the blob sweep)."""

    name = "s3-reconcile"
    workers = 2
    base_backoff = 1.0

    def __init__(self, owner: ReconcileProvider, *, leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.owner = owner
        self.swept_at_start = False

    def interval(self) -> float:
        return float(self.owner.cloud.properties.get(props.RECONCILE_INTERVAL))

    async def list_keys(self) -> list[str]:
        async with self.owner.cloud.sessions() as session:
            buckets = (await session.execute(
                select(S3Bucket.name).where(S3Bucket.lifecycle.is_not(None)))).scalars().all()
        return [*(f"bucket:{name}" for name in buckets), ORPHANS]

    async def sync(self, key: str) -> None:
        if key == ORPHANS:
            await self.owner._sweep_orphans(startup=not self.swept_at_start)
            self.swept_at_start = True
            return
        offset = int(self.owner.cloud.properties.get(props.LIFECYCLE_CLOCK_OFFSET))
        clock = datetime.now(UTC) + timedelta(seconds=offset)
        await self.owner._lifecycle(key[len("bucket:"):], clock)


class ReconcileProvider(S3Provider):
    """Owns the object storage controller (leader only); serves no operation."""

    async def start(self) -> None:
        self.reconciler = S3Reconciler(self, leader=lambda: self.cloud.runs_controllers)

        async def wake(name: str, value: Any) -> None:
            self.reconciler.resync_now()

        for prop in (props.RECONCILE_INTERVAL, props.LIFECYCLE_CLOCK_OFFSET, props.ORPHAN_GRACE):
            self.cloud.properties.on_change(prop.name, wake)
        self.cloud.spawn(self.reconciler.run(), "s3-reconcile")

    async def run_once(self) -> None:
        """One full pass in the caller's task (every bucket's lifecycle, then the sweep)."""
        await self.reconciler.run_once()

    async def _lifecycle(self, name: str, clock: datetime) -> None:
        garbage: list[str] = []
        uploads: list[str] = []
        async with self.cloud.sessions() as session:
            bucket = await session.get(S3Bucket, name)
            if bucket is None:
                return
            rules = [r for r in loads(bucket.lifecycle, []) if r.get("Status") == "Enabled"]
            rows = (await session.execute(select(S3Object).where(
                S3Object.bucket == name).order_by(S3Object.key, S3Object.seq.desc())
            )).scalars().all()
            noncurrent_since: dict[str, datetime] = {}
            for row in rows:
                tags = loads(row.tags, {}) or {}
                for rule in rules:
                    if not _matches(rule, row.key, tags):
                        continue
                    if row.latest and not row.delete_marker and _expired(
                            rule.get("Expiration") or {}, row.last_modified, clock):
                        dropped, _ = await versioning.remove(session, bucket, row.key,
                                                             row.owner_account, None)
                        garbage += dropped
                        break
                    nve = rule.get("NoncurrentVersionExpiration") or {}
                    became = noncurrent_since.get(row.key)
                    if not row.latest and became is not None and nve.get("NoncurrentDays") \
                            and clock >= became + timedelta(days=int(nve["NoncurrentDays"])) \
                            and not object_lock.protected(row, datetime.now(UTC)):
                        dropped, _ = await versioning.remove(session, bucket, row.key,
                                                             row.owner_account, row.version_id)
                        garbage += dropped
                        break
                noncurrent_since[row.key] = row.last_modified
            for rule in rules:
                abort = (rule.get("AbortIncompleteMultipartUpload") or {}).get(
                    "DaysAfterInitiation")
                if abort is None:
                    continue
                for upload in (await session.execute(select(S3Upload).where(
                        S3Upload.bucket == name))).scalars():
                    if _matches(rule, upload.key, {}) and \
                            clock >= upload.initiated + timedelta(days=int(abort)):
                        uploads.append(upload.upload_id)
            await session.commit()
        for blob_id in garbage:
            with contextlib.suppress(Exception):
                await self.store.delete(blob_id)
        if uploads:
            from cloudctl.services.s3.multipart import MultipartProvider

            multipart = next(p for p in self.cloud.providers if isinstance(p, MultipartProvider))
            for upload_id in uploads:
                await multipart.drop_upload(upload_id)

    async def _sweep_orphans(self, startup: bool = False) -> None:
        """Remove unreferenced blobs older than the grace period; at start-up also every
        one made before this cloud started (a killed process's half-done uploads: no
        request of this run can still be writing them)."""
        grace = int(self.cloud.properties.get(props.ORPHAN_GRACE))
        now = time.time()
        if startup:
            grace = min(grace, max(0, int(now - self.cloud.started_at)))
        store = self.store
        candidates: list[str] = []
        async for blob_id in store.list_ids():
            age = blob_age(blob_id, now)
            if age is not None and age > grace:
                candidates.append(blob_id)
        removed = 0
        for start in range(0, len(candidates), 500):
            batch = candidates[start:start + 500]
            async with self.cloud.sessions() as session:
                used = set((await session.execute(select(S3Object.blob_id).where(
                    S3Object.blob_id.in_(batch)))).scalars())
            for blob_id in batch:
                if blob_id not in used:
                    await store.delete(blob_id)
                    removed += 1
        async with self.cloud.sessions() as session:
            live = set((await session.execute(select(S3Upload.upload_id))).scalars())
        async for upload_id in store.list_uploads():
            if upload_id not in live:
                await store.abort(upload_id)
        await store.sweep(older_than=float(grace if startup else max(grace, 60)))
        if removed:
            log.info("removed %d orphan blobs", removed)
