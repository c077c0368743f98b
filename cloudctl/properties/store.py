"""Property values persisted in the database, cached in memory, polled for changes.

A set or reset writes one row (or deletes it) with a new revision; every API
process polls ``max(revision)`` and reloads on change, firing the registered
hooks so a change takes effect without a restart. The poll reads one marker (the
greatest revision and the row count); a process on file SQLite reads it with a raw
statement on the loop's connection (``marker_reader``), not a session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloudctl.core import ticks
from cloudctl.properties.models import PropertyValue
from cloudctl.properties.registry import PropertyDef, PropertyError, Registry

log = logging.getLogger(__name__)

Hook = Callable[[str, Any], Awaitable[None] | None]
MarkerReader = Callable[[], Awaitable[tuple[int | None, int | None]]]
MARKER_SQL = "SELECT max(revision), count(*) FROM cloud_properties"


class PropertyStore:
    """Typed access to the current value of every property."""

    def __init__(self, registry: Registry, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.registry = registry
        self.sessions = sessions
        self._raw: dict[str, str] = {}
        self._typed: dict[str, Any] = {}
        self._revision = -1
        self._hooks: dict[str, list[Hook]] = {}
        # (max revision, count) read without a session (file SQLite); None: a session's
        self.marker_reader: MarkerReader | None = None

    # reading -------------------------------------------------------------
    def get(self, prop: PropertyDef | str) -> Any:
        """The typed value now in force (the default when never set)."""
        name = prop if isinstance(prop, str) else prop.name
        if name in self._typed:
            return self._typed[name]
        definition = self.registry.get(name)
        value = definition.parse(definition.default)
        self._typed[name] = value
        return value

    def raw(self, name: str) -> str:
        definition = self.registry.get(name)
        return self._raw.get(name, definition.default)

    def is_default(self, name: str) -> bool:
        return name not in self._raw

    # hooks ---------------------------------------------------------------
    def on_change(self, name: str, hook: Hook) -> None:
        """Call ``hook(name, new_value)`` whenever the property changes."""
        self._hooks.setdefault(name, []).append(hook)

    async def _fire(self, changed: list[str]) -> None:
        for name in changed:
            for hook in self._hooks.get(name, []):
                try:
                    result = hook(name, self.get(name))
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:  # a broken hook must not stop the others
                    log.exception("property hook for %s failed", name)

    # loading -------------------------------------------------------------
    async def load(self) -> list[str]:
        """Reload all values; return the names whose value changed."""
        async with self.sessions() as session:
            rows = (await session.execute(select(PropertyValue))).scalars().all()
        raw = {row.name: row.value for row in rows if row.name in self.registry}
        revision = max((row.revision for row in rows), default=0)
        changed = sorted(
            name for name in set(raw) | set(self._raw) if raw.get(name) != self._raw.get(name)
        )
        self._raw = raw
        self._typed = {}
        for name, text in raw.items():
            try:
                self._typed[name] = self.registry.get(name).parse(text)
            except PropertyError:
                log.warning("stored value of %s no longer valid; using the default", name)
                self._raw.pop(name)
        self._revision = revision
        if changed:
            await self._fire(changed)
        return changed

    async def poll(self) -> list[str]:
        """Reload if any process changed a property since the last load."""
        if self.marker_reader is not None:
            revision, count = await self.marker_reader()
        else:
            async with self.sessions() as session:
                row = (await session.execute(
                    select(func.max(PropertyValue.revision), func.count())
                    .select_from(PropertyValue))).one()
            revision, count = row[0], row[1]
        marker = (revision or 0) * 1_000_003 + int(count or 0)
        if marker == getattr(self, "_marker", None):
            return []
        self._marker = marker
        return await self.load()

    async def run_poller(self, interval: float = 1.0) -> None:
        while True:
            await ticks.sleep(interval)  # on the shared grid: with the process's other timers
            try:
                await self.poll()
            except Exception:
                log.exception("property poll failed")

    # writing -------------------------------------------------------------
    async def set(self, name: str, raw: str) -> tuple[str, str]:
        """Validate and store ``raw``; return (old raw value, new raw value)."""
        definition = self.registry.get(name)
        if definition.readonly:
            raise PropertyError(f"{name} is read-only")
        definition.parse(raw)
        old = self.raw(name)
        async with self.sessions() as session, session.begin():
            await self._write(session, name, raw)
        await self.load()
        return old, raw

    async def reset(self, name: str) -> tuple[str, str]:
        definition = self.registry.get(name)
        old = self.raw(name)
        async with self.sessions() as session, session.begin():
            await session.execute(delete(PropertyValue).where(PropertyValue.name == name))
        await self.load()
        return old, definition.default

    @staticmethod
    async def _write(session: AsyncSession, name: str, raw: str) -> None:
        top = (await session.execute(select(func.max(PropertyValue.revision)))).scalar() or 0
        row = await session.get(PropertyValue, name)
        if row is None:
            session.add(PropertyValue(name=name, value=raw, revision=top + 1))
        else:
            row.value = raw
            row.revision = top + 1
