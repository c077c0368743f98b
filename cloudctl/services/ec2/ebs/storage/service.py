"""The block storage service of one API process: backends plus the reconciler.

One instance per process (``block_storage(cloud)``); the reconcile loop runs only
in worker 0 (``cloud.spawn``). Other workers record intent and rely on the
reconciler's resync timer; in worker 0 ``wake`` starts the work at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.ec2.ebs.storage.backends import BlockBackends
from cloudctl.services.ec2.ebs.storage.reconciler import BlockReconciler

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud




class BlockStorage:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.backends = BlockBackends(cloud)
        self.reconciler = BlockReconciler(cloud, self.backends, leader=lambda: self.leader)
        self._started = False

    @property
    def leader(self) -> bool:
        return self.cloud.runs_controllers

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        zones = [z for zones in self.cloud.region_zones.values() for z in zones]
        self.backends.watch(zones)
        if self.leader:
            self.cloud.spawn(self.reconciler.run(), "ebs-reconciler")

    def wake(self, key: str) -> None:
        """Converge ``key`` (a volume or snapshot id) soon."""
        if self._started:
            self.reconciler.wake(key)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.backends.close()


BLOCK_STORAGE = RuntimeKey[BlockStorage]("block_storage")


def block_storage(cloud: Cloud) -> BlockStorage:
    """The process's block storage service, created on first use."""
    return cloud.runtime.setdefault(BLOCK_STORAGE, lambda: BlockStorage(cloud))
