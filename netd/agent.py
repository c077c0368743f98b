"""The netd agent for one host: apply views, report the applied version.

Owns the level-triggered loop around `host.reconcile`: the controller hands
over a whole versioned view (`apply` synchronously, or `submit` to wake the
loop); the agent converges the host and records the version it applied.
`run` does a full resync on start (from the last view it saved, so a
restarted agent converges without waiting for the controller) and again on
a timer, so drift (a deleted rule, a killed dnsmasq) is repaired. Views older
than the applied one are ignored. `status` is the only thing it reports.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from netd import host
from netd.view import NetworkView, parse_view


@dataclass
class AgentStatus:
    host: str
    applied_version: int | None = None
    desired_version: int | None = None
    last_applied_at: float | None = None
    last_error: str | None = None
    last_seconds: dict[str, float] = field(default_factory=dict)
    applies: int = 0
    failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class NetAgent:
    """Converges one host (`HostConfig`) to the views it is given."""

    def __init__(self, cfg: host.HostConfig, resync_interval: float = 60.0) -> None:
        self.cfg = cfg
        self.resync_interval = resync_interval
        self._lock = threading.Lock()
        self._desired: NetworkView | None = None
        self._wake: asyncio.Event | None = None
        self._status = AgentStatus(host=cfg.host)

    def apply(self, view: NetworkView | dict[str, Any] | str, force: bool = False) -> int:
        """Converge to `view` now; return the applied version (raises on failure)."""
        v = view if isinstance(view, NetworkView) else parse_view(view)
        with self._lock:
            applied = self._status.applied_version
            if not force and applied is not None and v.version < applied:
                return applied
            self._desired = v
            self._status.desired_version = v.version
            try:
                result = host.reconcile(self.cfg, v)
            except Exception as exc:
                self._status.failures += 1
                self._status.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self._status.applied_version = v.version
            self._status.last_applied_at = time.time()
            self._status.last_error = None
            self._status.last_seconds = result.seconds
            self._status.applies += 1
            return v.version

    def submit(self, view: NetworkView | dict[str, Any] | str) -> None:
        """Record a desired view and wake `run` (returns at once)."""
        v = view if isinstance(view, NetworkView) else parse_view(view)
        with self._lock:
            if self._desired is None or v.version >= self._desired.version:
                self._desired = v
                self._status.desired_version = v.version
        if self._wake is not None:
            self._wake.set()

    def resync(self) -> int | None:
        """Re-apply the desired view (or the one saved on disk) in full."""
        with self._lock:
            v = self._desired
        if v is None:
            v = host.load_saved_view(self.cfg.state_dir)
        if v is None:
            return None
        return self.apply(v, force=True)

    def status(self) -> AgentStatus:
        with self._lock:
            return AgentStatus(**asdict(self._status))

    def teardown(self) -> None:
        with self._lock:
            host.teardown(self.cfg)
            self._desired = None
            self._status = AgentStatus(host=self.cfg.host)

    async def run(self, stop: asyncio.Event) -> None:
        """Resync on start, then on every `submit` and every `resync_interval`."""
        self._wake = asyncio.Event()
        self._wake.set()
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), self.resync_interval)
            except TimeoutError:
                pass
            if stop.is_set():
                break
            self._wake.clear()
            try:
                await asyncio.to_thread(self.resync)
            except Exception:  # recorded in status; retried on the next tick
                await asyncio.sleep(min(5.0, self.resync_interval))
