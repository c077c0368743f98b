"""The block storage reconcile loop: converge EBS rows to the block backends.

On the shared reconcile base (``cloudctl.core.reconcile``): keys (a volume or
snapshot id) go on a work queue; a full resync enqueues every row in a
transitional state at start and on a timer; API calls only wake it early. One
key is synced by one worker at a time; failures back off per key; after
``MAX_CREATE_ATTEMPTS`` failures a create ends in ``error``.

Each sync reads the row, calls the backend (every backend call is idempotent),
then writes the result with an update conditional on the state it read, so a
concurrent API change (DeleteVolume while creating) is never overwritten and is
picked up by the next pass. A volume's new state is told to the process's watchers
(``shared.settled``: a stack waiting for it to be available). Safe after kill -9 at any point: the row is written
before any backend object exists and removed only after the object is gone.

Must not: answer API calls; touch backend objects that have no row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from cloudctl.core.reconcile import Leadership, Reconciler, Retry, always_leader
from cloudctl.db.base import utcnow
from cloudctl.services.ec2.ebs import tags as ebs_tags
from cloudctl.services.ec2.ebs.models import (
    MOD_COMPLETED,
    MOD_FAILED,
    MOD_MODIFYING,
    SNAPSHOT_COMPLETED,
    SNAPSHOT_DELETING,
    SNAPSHOT_ERROR,
    SNAPSHOT_PENDING,
    VOLUME_AVAILABLE,
    VOLUME_CREATING,
    VOLUME_DELETING,
    VOLUME_ERROR,
    VOLUME_IN_USE,
    Snapshot,
    SnapshotPermission,
    Volume,
)
from cloudctl.services.ec2.ebs.storage import properties as props
from cloudctl.services.ec2.ebs.storage import transfer
from cloudctl.services.ec2.ebs.storage.backends import BlockBackends
from cloudctl.services.ec2.shared import settled
from storagectl.blocks import BlockBackend, BlockBackendError

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)

MAX_CREATE_ATTEMPTS = 6
PROGRESS_FLUSH = 0.5


class BlockReconciler(Reconciler):
    """Volumes and snapshots (keys ``vol-...``/``snap-...``) on the reconcile base."""

    name = "ebs-reconciler"
    base_backoff = 1.0
    # Create/Delete/ModifyVolume, Create/Copy/DeleteSnapshot, CopyImage, a launch's root
    # volume and a termination's DeleteOnTermination wake their key (``BlockStorage.wake``,
    # forwarded from any worker): with no row in transition, a resync once a minute
    idle_interval = 60.0

    def __init__(self, cloud: Cloud, backends: BlockBackends, *,
                 leader: Leadership = always_leader) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.backends = backends

    def interval(self) -> float:
        return float(self.cloud.properties.get(props.RECONCILE_INTERVAL))

    async def list_keys(self) -> list[str]:
        """Every row not at rest."""
        async with self.cloud.sessions() as session:
            vols = (await session.execute(select(Volume.volume_id).where(
                (Volume.state.in_([VOLUME_CREATING, VOLUME_DELETING]))
                | (Volume.mod_state == MOD_MODIFYING)))).scalars().all()
            snaps = (await session.execute(select(Snapshot.snapshot_id).where(
                Snapshot.state.in_([SNAPSHOT_PENDING, SNAPSHOT_DELETING])))).scalars().all()
        return [*vols, *snaps]

    async def sync(self, key: str) -> None:
        if key.startswith("vol-"):
            await self.sync_volume(key)
        elif key.startswith("snap-"):
            await self.sync_snapshot(key)

    # -- volumes -------------------------------------------------------------

    async def sync_volume(self, volume_id: str) -> None:
        async with self.cloud.sessions() as session:
            vol = await session.get(Volume, volume_id)
        if vol is None:
            return
        backend = await self.backends.get(vol.zone, vol.backend)
        if vol.state == VOLUME_CREATING:
            await self._create_volume(vol, backend)
        elif vol.state == VOLUME_DELETING:
            await self._delete_volume(vol, backend)
        elif vol.mod_state == MOD_MODIFYING and vol.state in (VOLUME_AVAILABLE, VOLUME_IN_USE):
            await self._resize_volume(vol, backend)

    async def _create_volume(self, vol: Volume, backend: BlockBackend) -> None:
        if vol.snapshot_id:
            async with self.cloud.sessions() as session:
                snap = await session.get(Snapshot, vol.snapshot_id)
            if snap is None or snap.state == SNAPSHOT_ERROR:
                await self._set_volume(vol.volume_id, VOLUME_CREATING, VOLUME_ERROR,
                                       f"snapshot {vol.snapshot_id} is not usable")
                return
            if snap.state == SNAPSHOT_PENDING:
                raise Retry()
            elsewhere = (snap.zone, snap.backend) != (vol.zone, vol.backend) and (
                snap.backend != vol.backend
                or self.backends.config_for(snap.zone, snap.backend)
                != self.backends.config_for(vol.zone, vol.backend))
            try:
                if elsewhere:  # another zone's storage: copy the data across
                    source = await self.backends.get(snap.zone, snap.backend)
                    copied = await transfer.restore_across(source, snap.snapshot_id, backend,
                                                           vol.volume_id, vol.size_gib)
                    log.info("volume %s: %d bytes of snapshot %s copied from zone %s",
                             vol.volume_id, copied, snap.snapshot_id, snap.zone)
                else:
                    await backend.create_volume_from_snapshot(vol.volume_id, vol.snapshot_id,
                                                              vol.size_gib)
            except (BlockBackendError, ValueError) as exc:
                await self._set_volume(vol.volume_id, VOLUME_CREATING, VOLUME_ERROR, str(exc))
                return
        else:
            await backend.create_volume(vol.volume_id, vol.size_gib)
        await self._set_volume(vol.volume_id, VOLUME_CREATING, VOLUME_AVAILABLE, None)

    async def _delete_volume(self, vol: Volume, backend: BlockBackend) -> None:
        async with self.cloud.sessions() as session:
            busy = (await session.execute(select(func.count()).select_from(Snapshot).where(
                Snapshot.volume_id == vol.volume_id, Snapshot.source_snapshot_id.is_(None),
                Snapshot.state == SNAPSHOT_PENDING))).scalar()
        if busy:
            raise Retry()  # a snapshot still reads this volume
        await backend.delete_volume(vol.volume_id)
        async with self.cloud.sessions() as session, session.begin():
            gone = await session.execute(delete(Volume).where(
                Volume.volume_id == vol.volume_id, Volume.state == VOLUME_DELETING))
            if getattr(gone, "rowcount", 0):
                await ebs_tags.delete_tags(session, vol.account_id, vol.region, [vol.volume_id])

    async def _resize_volume(self, vol: Volume, backend: BlockBackend) -> None:
        target = vol.mod_target_size or vol.size_gib
        values: dict[str, Any] = {"mod_state": MOD_COMPLETED, "mod_end": utcnow()}
        try:
            await backend.resize_volume(vol.volume_id, target)
            values["size_gib"] = target
        except (BlockBackendError, ValueError) as exc:
            values.update(mod_state=MOD_FAILED, mod_message=str(exc))
        async with self.cloud.sessions() as session, session.begin():
            await session.execute(update(Volume).where(
                Volume.volume_id == vol.volume_id, Volume.mod_state == MOD_MODIFYING,
                Volume.mod_target_size == vol.mod_target_size).values(**values))

    async def _set_volume(self, volume_id: str, expect: str, state: str,
                          message: str | None) -> None:
        async with self.cloud.sessions() as session, session.begin():
            result = await session.execute(update(Volume).where(
                Volume.volume_id == volume_id, Volume.state == expect).values(
                state=state, status_message=message))
        if getattr(result, "rowcount", 0):
            settled.changed(self.cloud, volume_id, state)

    # -- snapshots -----------------------------------------------------------

    async def sync_snapshot(self, snapshot_id: str) -> None:
        async with self.cloud.sessions() as session:
            snap = await session.get(Snapshot, snapshot_id)
        if snap is None:
            return
        backend = await self.backends.get(snap.zone, snap.backend)
        if snap.state == SNAPSHOT_PENDING:
            await self._create_snapshot(snap, backend)
        elif snap.state == SNAPSHOT_DELETING:
            await self._delete_snapshot(snap, backend)

    async def _create_snapshot(self, snap: Snapshot, backend: BlockBackend) -> None:
        progress = _ProgressWriter(self.cloud, snap.snapshot_id)
        flusher = asyncio.create_task(progress.run())
        try:
            if snap.source_snapshot_id:
                await self._copy_snapshot(snap, backend, progress)
            else:
                await backend.create_snapshot(snap.volume_id, snap.snapshot_id, progress)
        except (BlockBackendError, ValueError) as exc:
            await self._set_snapshot(snap.snapshot_id, SNAPSHOT_ERROR, str(exc))
            return
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await self._set_snapshot(snap.snapshot_id, SNAPSHOT_COMPLETED, None)

    async def _copy_snapshot(self, snap: Snapshot, backend: BlockBackend,
                             progress: _ProgressWriter) -> None:
        """A copy in the same backend: a volume from the source, snapshotted, dropped."""
        scratch = f"copy-{snap.snapshot_id}"
        if not await backend.snapshot_exists(snap.snapshot_id):
            assert snap.source_snapshot_id is not None
            await backend.create_volume_from_snapshot(scratch, snap.source_snapshot_id,
                                                      snap.volume_size)
            await backend.create_snapshot(scratch, snap.snapshot_id, progress)
        await backend.delete_volume(scratch)

    async def _delete_snapshot(self, snap: Snapshot, backend: BlockBackend) -> None:
        async with self.cloud.sessions() as session:
            readers = (await session.execute(select(func.count()).select_from(Volume).where(
                Volume.snapshot_id == snap.snapshot_id, Volume.state == VOLUME_CREATING))).scalar()
            copies = (await session.execute(select(func.count()).select_from(Snapshot).where(
                Snapshot.source_snapshot_id == snap.snapshot_id,
                Snapshot.state == SNAPSHOT_PENDING))).scalar()
        if readers or copies:
            raise Retry()
        await backend.delete_snapshot(snap.snapshot_id)
        if snap.source_snapshot_id:
            await backend.delete_volume(f"copy-{snap.snapshot_id}")
        async with self.cloud.sessions() as session, session.begin():
            gone = await session.execute(delete(Snapshot).where(
                Snapshot.snapshot_id == snap.snapshot_id, Snapshot.state == SNAPSHOT_DELETING))
            if getattr(gone, "rowcount", 0):
                await session.execute(delete(SnapshotPermission).where(
                    SnapshotPermission.snapshot_id == snap.snapshot_id))
                await ebs_tags.delete_tags(session, snap.account_id, snap.region,
                                           [snap.snapshot_id])

    async def _set_snapshot(self, snapshot_id: str, state: str, message: str | None) -> None:
        values: dict[str, Any] = {"state": state, "status_message": message}
        if state == SNAPSHOT_COMPLETED:
            values.update(progress=100, completed_at=utcnow())
        async with self.cloud.sessions() as session, session.begin():
            await session.execute(update(Snapshot).where(
                Snapshot.snapshot_id == snapshot_id, Snapshot.state == SNAPSHOT_PENDING
            ).values(**values))

    async def on_failure(self, key: str, count: int, exc: Exception) -> None:
        """After repeated failures a create ends in ``error``; deletes retry forever."""
        if count < MAX_CREATE_ATTEMPTS:
            return
        with contextlib.suppress(Exception):
            if key.startswith("vol-"):
                await self._set_volume(key, VOLUME_CREATING, VOLUME_ERROR, str(exc))
            elif key.startswith("snap-"):
                await self._set_snapshot(key, SNAPSHOT_ERROR, str(exc))


class _ProgressWriter:
    """The backend's progress callback; the latest percentage reaches the row twice a second."""

    def __init__(self, cloud: Cloud, snapshot_id: str) -> None:
        self.cloud = cloud
        self.snapshot_id = snapshot_id
        self.value = 0
        self._written = 0
        self._last = time.monotonic()

    def __call__(self, pct: int) -> None:  # may run in a backend thread
        self.value = max(self.value, min(99, int(pct)))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_FLUSH)
            value = self.value
            if value != self._written:
                async with self.cloud.sessions() as session, session.begin():
                    await session.execute(update(Snapshot).where(
                        Snapshot.snapshot_id == self.snapshot_id,
                        Snapshot.state == SNAPSHOT_PENDING).values(progress=value))
                self._written = value
