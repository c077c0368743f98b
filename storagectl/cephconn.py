"""A lazily opened librados connection to one pool, used off the event loop.

Owns: connecting (in a worker thread, on first use), running blocking
librados/librbd calls in worker threads, and shutting the connection down. Given a
``client_records`` directory, a new connection fences the dead connections of this
host's earlier processes on record there and records itself
(``storagectl.clientrecords``).
Must not: be used from the event loop thread for blocking calls.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import rados

from storagectl.clientrecords import ClientRecords

log = logging.getLogger(__name__)

T = TypeVar("T")
OP_TIMEOUT = 60  # seconds
_ADDR_RE = re.compile(r"(?:v[12]:)?(\[[0-9a-fA-F:]+\]|[0-9A-Za-z.-]+):(\d+)")


class PoolConnection:
    """One cluster handle and one I/O context (pool + namespace)."""

    def __init__(self, *, pool: str, conffile: str | None = None,
                 client_name: str = "client.admin", keyring: str | None = None,
                 namespace: str = "", connect_timeout: int = 30,
                 op_timeout: int = OP_TIMEOUT, client_records: str | None = None) -> None:
        self.pool = pool
        self.namespace = namespace
        self.conffile = conffile
        self.client_name = client_name
        self.keyring = keyring
        self._timeout = connect_timeout
        self._op_timeout = op_timeout
        self._cluster: Any = None
        self._ioctx: Any = None
        self._lock = asyncio.Lock()
        self._records = ClientRecords(client_records) if client_records else None
        self._record: Path | None = None

    def _connect_sync(self) -> None:
        # An unreachable OSD or monitor fails the call after ``op_timeout`` seconds
        # instead of holding a worker thread (and the key being reconciled) forever.
        conf = {"rados_osd_op_timeout": str(self._op_timeout),
                "rados_mon_op_timeout": str(self._op_timeout)}
        if self.keyring:
            conf["keyring"] = self.keyring
        cluster = rados.Rados(conffile=self.conffile or "", name=self.client_name, conf=conf)
        cluster.connect(timeout=self._timeout)
        try:
            ioctx = cluster.open_ioctx(self.pool)
            ioctx.set_namespace(self.namespace)
        except BaseException:
            cluster.shutdown()
            raise
        if self._records is not None:
            try:
                self._record = self._records.register(cluster, self.client_name)
            except Exception:  # the connection works; only the fast take-over is lost
                log.warning("RADOS client records in %s failed", self._records.directory,
                            exc_info=True)
        self._cluster, self._ioctx = cluster, ioctx

    async def ioctx(self) -> Any:
        """The pool's I/O context, connecting first if needed."""
        if self._ioctx is None:
            async with self._lock:
                if self._ioctx is None:
                    await asyncio.to_thread(self._connect_sync)
        return self._ioctx

    async def call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(ioctx)`` in a worker thread."""
        io = await self.ioctx()
        return await asyncio.to_thread(fn, io)

    async def monitors(self) -> list[tuple[str, int]]:
        """Monitor (host, port) pairs from the cluster configuration."""
        await self.ioctx()
        hosts: str = await asyncio.to_thread(self._cluster.conf_get, "mon_host")
        return [(h.strip("[]"), int(p)) for h, p in _ADDR_RE.findall(hosts)]

    async def close(self) -> None:
        """Shut the connection down; a later call reconnects."""
        if self._ioctx is not None:
            ioctx, cluster = self._ioctx, self._cluster
            self._ioctx = self._cluster = None
            await asyncio.to_thread(ioctx.close)
            await asyncio.to_thread(cluster.shutdown)
            record, self._record = self._record, None
            if self._records is not None:
                self._records.forget(record)


def keyring_secret(keyring: str, client_name: str) -> str | None:
    """The base64 cephx key of ``client_name`` in a keyring file, if present."""
    section = None
    with open(keyring) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif section == client_name and line.split("=", 1)[0].strip() == "key":
                return line.split("=", 1)[1].strip()
    return None
