"""The geometry of the embedded store's blocks, without their arrays: ``SLOTS`` buckets a
block, the seconds a block of a resolution covers and where the block holding a time
starts. ``blocks`` (NumPy arrays) re-exports them; code that only computes block
boundaries (the retention sweep, the start of a read) imports this module and leaves
NumPy unloaded until a block is really read or written.
"""

from __future__ import annotations

SLOTS = 1440
Points = tuple[list[int], list[float]]  # period starts (ascending) and their values


def span(resolution: int) -> int:
    """Seconds a block of ``resolution`` covers."""
    return resolution * SLOTS


def block_start(resolution: int, ts: int) -> int:
    return ts // span(resolution) * span(resolution)
