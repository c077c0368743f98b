"""Restoring a snapshot into a volume on another block backend.

A snapshot lives on the storage of the zone it was taken in. Restoring it in a zone
whose storage is another backend (file in one zone, Ceph RBD in the other, or two
Ceph clusters) cannot clone it: the data is copied. Only the snapshot's allocated
extents are read, in chunks of ``CHUNK`` bytes, and all-zero chunks are skipped, so
the new volume stays as sparse as the snapshot.

The copy is restartable: it always begins with a fresh target volume (a partial copy
of an interrupted attempt is deleted first). The caller keeps the volume ``creating``
until it returns, so no one sees a partial copy.

Must not: hold more than one chunk in memory; change the snapshot.
"""

from __future__ import annotations

from storagectl.blocks import BlockBackend, InvalidSize

CHUNK = 4 << 20
GIB = 1 << 30
_ZEROES = bytes(CHUNK)


async def restore_across(source: BlockBackend, snapshot_id: str, target: BlockBackend,
                         volume_id: str, size_gib: int) -> int:
    """Copy snapshot ``snapshot_id`` of ``source`` into a new volume of ``target``;
    returns the bytes written. Raises ``SnapshotNotFound`` or ``InvalidSize``."""
    size, extents = await source.snapshot_extents(snapshot_id)
    if size > size_gib * GIB:
        raise InvalidSize(f"{size_gib} GiB is smaller than snapshot {snapshot_id}")
    await target.delete_volume(volume_id)
    await target.create_volume(volume_id, size_gib)
    written = 0
    zeroes = memoryview(_ZEROES)
    for offset, length in extents:
        end = min(offset + length, size)
        for pos in range(offset, end, CHUNK):
            count = min(CHUNK, end - pos)
            data = await source.read_snapshot(snapshot_id, pos, count)
            if data == zeroes[:len(data)]:
                continue
            await target.write(volume_id, pos, data)
            written += len(data)
    return written
