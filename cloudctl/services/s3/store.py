"""The blob store object data goes to, chosen by ``objectstorage.providerclient``.

Owns building the ``storagectl`` blob store and replacing it when the property
changes (new writes go to the new backend; existing objects stay where they are,
so switching backends is for an empty cloud). Also owns blob ids: a blob id embeds
its creation time, so the orphan sweep can tell a blob being uploaded right now
from one a crash left behind, without a database write per upload.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from cloudctl.server.cloud import Cloud
from cloudctl.services.s3 import properties as props
from storagectl.objects import BlobStore, open_blob_store


def new_blob_id() -> str:
    """``<ms since epoch, hex>-<random>``: unique and datable."""
    return f"{int(time.time() * 1000):011x}-{secrets.token_hex(12)}"


def blob_age(blob_id: str, now: float | None = None) -> float | None:
    """Seconds since the blob id was made, None for ids this module did not make."""
    stamp, sep, _ = blob_id.partition("-")
    if not sep:
        return None
    try:
        made = int(stamp, 16) / 1000
    except ValueError:
        return None
    return (now if now is not None else time.time()) - made


class StoreHolder:
    """Holds the current blob store of the process."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._store: BlobStore | None = None
        self._kind = ""

    @property
    def store(self) -> BlobStore:
        kind = str(self.cloud.properties.get(props.PROVIDER_CLIENT))
        if kind == "file":
            kind = f"file:{self.cloud.properties.get(props.SYNC_MODE)}"
        if self._store is None or kind != self._kind:
            self._store = self._build(kind)
            self._kind = kind
        return self._store

    def _build(self, kind: str) -> BlobStore:
        if kind == "ceph-rados":
            config: dict[str, Any] = {"pool": str(self.cloud.properties.get(props.CEPH_POOL))}
            for key, prop in (("conffile", props.CEPH_CONFFILE),
                              ("client_name", props.CEPH_CLIENT),
                              ("keyring", props.CEPH_KEYRING)):
                value = str(self.cloud.properties.get(prop))
                if value:
                    config[key] = value
            return open_blob_store("ceph-rados", **config)
        root = self.cloud.settings.data_dir / "objects"
        root.mkdir(parents=True, exist_ok=True)
        return open_blob_store("file", root=root, sync_mode=kind.partition(":")[2] or "always")

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None
