"""What a service is to the assembly: a ``ServiceSpec``.

Each service package declares one ``SERVICE = ServiceSpec(...)`` in its
``__init__.py``; ``cloudctl.services.catalog.SERVICES`` lists them in order, and the
assembly, the table registry (alembic, tests) and start-up read that list alone. The
server layer knows a service only through this shape, never by name.

- ``install(cloud)``: add the service's providers, its authorisation declarations,
  request hooks and runtime objects (``cloud.runtime``); synchronous, nothing started;
- ``tables()``: the service's ORM classes (imported when asked for);
- ``startup(cloud)``: a start-up task run before any provider starts (the geography
  loads the zones every other service reads).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _no_tables() -> Sequence[type[Any]]:
    return ()


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the cloud, as the assembly sees it."""

    name: str
    install: Callable[[Cloud], None]
    tables: Callable[[], Sequence[type[Any]]] = _no_tables
    startup: Callable[[Cloud], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        return f"ServiceSpec({self.name})"


def assemble(cloud: Cloud, services: Sequence[ServiceSpec]) -> None:
    """Install ``services`` into ``cloud`` in order; their start-up tasks run at start."""
    for spec in services:
        spec.install(cloud)
        if spec.startup is not None:
            cloud.startup.append(spec.startup)
