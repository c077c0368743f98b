"""``RemoteNodeClient``: the ``NodeClient`` contract over the agent's HTTP/JSON API (v1).

Owns the client side of ``nodectl.agent``: one aiohttp session per client with
mutual TLS (``nodectl.tls.client_context``: the controller's certificate, only the
cloud CA trusted). Connection failures become ``NodeError(code="Unavailable",
retryable=True)``; agent errors keep their code and retryable flag. Create it
anywhere, use it inside one event loop, ``await close()`` when done.
"""

from __future__ import annotations

import ssl
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from nodectl.client import (
    API_VERSION,
    InstanceSpec,
    InstanceStatus,
    NicSpec,
    NodeError,
    NodeInfo,
    VolumeSpec,
)
from nodectl.stats import NodeStats, node_stats_from_json
from nodectl.tls import client_context
from nodectl.wire import (
    error_from_body,
    info_from_json,
    status_from_json,
    volume_to_json,
)

__all__ = ["RemoteNodeClient"]

DEFAULT_TIMEOUT = 900.0  # ensure may stage a large image before it answers


class RemoteNodeClient:
    """A node agent at ``url`` (``https://host:port``), reached with mutual TLS."""

    def __init__(self, url: str, ca: Path | None = None, cert: Path | None = None,
                 key: Path | None = None, *, ssl_context: ssl.SSLContext | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        if ssl_context is None and ca is not None:
            ssl_context = client_context(ca, cert, key)
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False,
                                             limit=32)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RemoteNodeClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}/{API_VERSION}{path}"
        try:
            async with self._client().request(method, url, json=body) as resp:
                if resp.status == 204:
                    return None
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
                if resp.status >= 400:
                    raise error_from_body(resp.status, data)
                return data
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            raise NodeError(f"node agent {self.url} unreachable: {type(exc).__name__}: {exc}",
                            retryable=True, code="Unavailable") from exc

    @staticmethod
    def _id(value: str) -> str:
        return quote(value, safe="")

    async def node_info(self) -> NodeInfo:
        return info_from_json(await self._request("GET", "/node"))

    async def ensure_instance(self, spec: InstanceSpec) -> InstanceStatus:
        data = await self._request("PUT", f"/instances/{self._id(spec.instance_id)}",
                                   spec.to_json())
        return status_from_json(data)

    async def stop_instance(self, instance_id: str, force: bool = False) -> InstanceStatus:
        data = await self._request("POST", f"/instances/{self._id(instance_id)}/stop",
                                   {"force": force})
        return status_from_json(data)

    async def reboot_instance(self, instance_id: str) -> None:
        await self._request("POST", f"/instances/{self._id(instance_id)}/reboot")

    async def delete_instance(self, instance_id: str) -> None:
        await self._request("DELETE", f"/instances/{self._id(instance_id)}")

    async def list_instances(self) -> list[InstanceStatus]:
        data = await self._request("GET", "/instances")
        return [status_from_json(s) for s in data["instances"]]

    async def console_output(self, instance_id: str) -> str:
        data = await self._request("GET", f"/instances/{self._id(instance_id)}/console")
        return str(data["output"])

    async def guest_stats(self) -> NodeStats:
        return node_stats_from_json(await self._request("GET", "/stats"))

    async def attach_volume(self, instance_id: str, volume: VolumeSpec) -> None:
        await self._request(
            "PUT", f"/instances/{self._id(instance_id)}/volumes/{self._id(volume.volume_id)}",
            volume_to_json(volume))

    async def ensure_nics(self, instance_id: str, nics: tuple[NicSpec, ...]) -> None:
        await self._request("PUT", f"/instances/{self._id(instance_id)}/nics",
                            {"nics": [asdict(n) for n in nics]})

    async def detach_volume(self, instance_id: str, volume_id: str) -> None:
        await self._request(
            "DELETE", f"/instances/{self._id(instance_id)}/volumes/{self._id(volume_id)}")
