"""Block backends per zone, opened lazily and reopened when their properties change.

A volume or snapshot row records the backend kind it lives on; ``get(zone, kind)``
returns that backend, built from the zone's current properties. A change to any
of the zone's storage properties drops the cached backends of that zone (closed
after a grace period, so calls in flight finish) and the next call reopens them.

Must not: decide what to create or delete (the reconciler does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudctl.services.ec2.ebs.storage import properties as props
from storagectl.blocks import BlockBackend, open_block_backend

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS = 120.0
RADOS_CLIENTS_DIR = "rados-clients"  # under the data directory's run/


class BlockBackends:
    """The open block backends of this process, keyed by (zone, kind)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._open: dict[tuple[str, str], BlockBackend] = {}
        self._lock = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()

    def watch(self, zones: list[str]) -> None:
        """Reopen a zone's backends when one of its storage properties changes."""
        for zone in zones:
            for template in props.ZONE_PROPERTIES:
                name = props.zone_property(template, zone)
                self.cloud.properties.on_change(name, self._changed_hook(zone))

    def _changed_hook(self, zone: str) -> Any:
        def hook(_name: str, _value: Any) -> None:
            self.invalidate(zone)

        return hook

    def kind_for(self, zone: str) -> str:
        """The backend kind new volumes in ``zone`` go to."""
        return str(self.cloud.properties.get(props.zone_property(props.BLOCK_MANAGER, zone)))

    def config_for(self, zone: str, kind: str) -> dict[str, Any]:
        """Keyword configuration of ``open_block_backend`` from the zone's properties."""
        def value(template: Any) -> str:
            return str(self.cloud.properties.get(props.zone_property(template, zone)) or "")

        if kind == "file":
            root = value(props.FILE_ROOT) or str(Path(self.cloud.settings.data_dir) / "volumes")
            return {"root": root}
        user = value(props.CEPH_USER) or "client.admin"
        if not user.startswith("client."):
            user = f"client.{user}"
        # This host's RADOS clients on record: a restarted process fences its killed
        # predecessor's, whose RBD locks would otherwise stay held until the OSDs time
        # its watches out (storagectl.clientrecords)
        records = self.cloud.settings.run_dir / RADOS_CLIENTS_DIR
        config: dict[str, Any] = {"pool": value(props.CEPH_POOL), "client_name": user,
                                  "prefix": value(props.CEPH_PREFIX),
                                  "client_records": str(records)}
        if value(props.CEPH_CONF):
            config["conffile"] = value(props.CEPH_CONF)
        if value(props.CEPH_KEYRING):
            config["keyring"] = value(props.CEPH_KEYRING)
        return config

    async def get(self, zone: str, kind: str) -> BlockBackend:
        """The backend of ``zone`` of ``kind``, opened on first use."""
        key = (zone, kind)
        found = self._open.get(key)
        if found is not None:
            return found
        async with self._lock:
            again = self._open.get(key)
            if again is not None:
                return again
            config = self.config_for(zone, kind)
            log.info("opening %s block backend of zone %s", kind, zone)
            opened: BlockBackend = await asyncio.to_thread(
                open_block_backend, kind, **config)  # type: ignore[arg-type]
            self._open[key] = opened
        return opened

    def invalidate(self, zone: str) -> None:
        """Forget the zone's backends; they are closed after a grace period."""
        for key in [k for k in self._open if k[0] == zone]:
            backend = self._open.pop(key)
            log.info("storage properties of zone %s changed: reopening %s backend", zone, key[1])
            task = asyncio.get_running_loop().create_task(self._close_later(backend))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    @staticmethod
    async def _close_later(backend: BlockBackend) -> None:
        await asyncio.sleep(CLOSE_GRACE_SECONDS)
        with contextlib.suppress(Exception):
            await backend.close()

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
        backends = list(self._open.values())
        self._open.clear()
        for backend in backends:
            with contextlib.suppress(Exception):
                await backend.close()
