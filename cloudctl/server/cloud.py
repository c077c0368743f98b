"""The running cloud inside one API process: database, properties, identity, providers.

Owns the lifetime of shared resources (engine, property poller, providers) and the
dispatch table ``service -> operation -> handler``. Built by ``app.py``; providers
receive it in their constructor.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloudctl.auth.credentials import CredentialStore
from cloudctl.auth.secrets import SecretBox
from cloudctl.config import Settings
from cloudctl.core import election as elections
from cloudctl.core import fencing, terms, wakes
from cloudctl.db import loopsql, pginline, pgnearwait, pgwriters
from cloudctl.db.engine import create_engine, session_factory
from cloudctl.properties import definitions as core_props
from cloudctl.properties.registry import registry
from cloudctl.properties.store import MARKER_SQL, PropertyStore
from cloudctl.protocol.wire import ParsedRequest
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Check, Handler, Provider
from cloudctl.server.roles import Role
from cloudctl.server.runtime import RequestHook, Runtime

log = logging.getLogger(__name__)


class Authorizer(Protocol):
    """Decides whether the caller may perform the parsed operation; raises to deny."""

    async def authorize(self, ctx: RequestContext, parsed: ParsedRequest) -> None: ...


class Cloud:
    """Shared state of one API process."""

    def __init__(self, settings: Settings, *, worker_index: int = 0,
                 started_at: float | None = None, role: Role = Role.ALL) -> None:
        self.settings = settings
        self.worker_index = worker_index
        self.role = role
        # when ``cloudctl up`` started (the parent's clock, the same in every worker and a
        # respawned one): anything a crash left behind was made before it
        self.started_at = started_at if started_at is not None else time.time()
        self.engine: AsyncEngine = create_engine(
            settings.database_url, idle_transaction_timeout=settings.idle_transaction_timeout,
            host_id=settings.host_id)
        # PostgreSQL: read operations' sessions on a pool of their own (never waiting
        # behind the writers for a connection: ``cloudctl.db.readpool``)
        self.read_engine: AsyncEngine | None = None if self.engine.dialect.name == "sqlite" \
            else create_engine(settings.database_url, host_id=settings.host_id,
                               idle_transaction_timeout=settings.idle_transaction_timeout,
                               reads_of=self.engine)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.properties = PropertyStore(registry, self.sessions)
        self._properties_sql: loopsql.LoopSqlite | None = None  # the raw poll (SQLite)
        self.secrets = SecretBox(settings.secret_key_path)
        self.providers: list[Provider] = []
        self.handlers: dict[str, dict[str, Handler]] = {}
        self.checks: dict[str, dict[str, list[Check]]] = {}
        self.credentials: CredentialStore
        self.authorizer: Authorizer
        self.region_zones: dict[str, list[str]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self.runtime = Runtime()  # services' per-process objects, by typed key
        self.hooks: list[RequestHook] = []  # services' handling around dispatch
        self.startup: list[Callable[[Cloud], Awaitable[None]]] = []  # before providers start
        # who leads each controller kind (cloudctl.core.election), chosen at start
        self.election: elections.Election = elections.LocalElection(settings.host_id)
        self.serving = True  # False: the host is disabled (its API refuses new work)
        self.endpoint = ""  # this process's API address (the service registry shows it)
        # wakes to and from the processes that lead controllers (other workers, hosts)
        self.wakes: wakes.Channel | None = None

    @property
    def runs_controllers(self) -> bool:
        """This process runs the cloud's controllers and leader-only tasks: the first
        worker of a host whose role has them (``cloudctl up --role all|controllers``)."""
        return self.worker_index == 0 and self.role.has_controllers

    def task_names(self) -> list[str]:
        """The background tasks this process runs (pollers, controllers), by name."""
        return [task.get_name() for task in self._tasks if not task.done()]

    @property
    def region(self) -> str:
        return str(self.properties.get(core_props.REGION_NAME))

    def add_provider(self, provider: Provider) -> None:
        self.providers.append(provider)
        table = self.handlers.setdefault(provider.service, {})
        for name in provider.operations():
            handler = provider.handler(name)
            assert handler is not None
            table[name] = handler
        checks = self.checks.setdefault(provider.service, {})
        for name, check in provider.authorizations().items():
            checks.setdefault(name, []).append(check)

    def handler(self, service: str, operation: str) -> Handler | None:
        return self.handlers.get(service, {}).get(operation)

    def authorizations(self, service: str, operation: str) -> list[Check]:
        """The providers' extra authorisation steps of an operation (``@authorization``)."""
        return self.checks.get(service, {}).get(operation, [])

    def spawn(self, coro: Any, name: str) -> None:
        """Run a background task for the life of the process (pollers, controllers)."""
        self._tasks.append(asyncio.create_task(coro, name=name))

    def _elect(self) -> None:
        """ZooKeeper elections when configured (the controller process of a host whose
        role has controllers stands; other workers and ``api`` hosts never lead), else the
        embedded cloud's worker 0 leads everything."""
        if self.settings.zookeeper:
            fencing.install()
            if self.runs_controllers:
                claim, release = terms.claimer(self.sessions, self.settings.host_id)
                zookeeper = elections.ZooKeeperElection(
                    self.settings.zookeeper, self.settings.host_id, claim, release,
                    session_timeout=self.settings.zookeeper_session_timeout)
                zookeeper.start()
                self.election = zookeeper
            else:
                self.election = elections.NeverLeads()
        elections.install(self.election)

    async def start(self) -> None:
        await self.properties.load()
        self._size_write_slots()
        self._follow_inline_reads()
        self._elect()
        self.wakes = wakes.open_channel(self.engine, self.settings.database_url,
                                        self.settings.run_dir, listen=self.runs_controllers)
        self.wakes.start()
        wakes.install(self.wakes)
        for task in self.startup:  # the services' start-up tasks (the zones first)
            await task(self)
        for provider in self.providers:
            await provider.start()
        self._poll_properties_raw()
        self.spawn(self.properties.run_poller(), "property-poller")

    def _size_write_slots(self) -> None:
        """PostgreSQL: the write slots of this process follow ``db.postgres_write_slots``."""
        writers = pgwriters.writers_for(self.engine)
        if writers is None:
            return
        writers.resize(int(self.properties.get(pgwriters.WRITE_SLOTS)))
        self.properties.on_change(pgwriters.WRITE_SLOTS.name,
                                  lambda _name, value: writers.resize(int(value)))

    def _follow_inline_reads(self) -> None:
        """PostgreSQL: whether sessions' plain reads wait on the loop follows
        ``db.postgres_inline_reads``, as the hot reads do (``pgreads.for_cloud``)."""
        near = pgnearwait.for_engine(self.engine)
        if near is None:
            return
        near.mode = str(self.properties.get(pginline.INLINE_READS))
        self.properties.on_change(pginline.INLINE_READS.name,
                                  lambda _name, value: setattr(near, "mode", str(value)))

    def _poll_properties_raw(self) -> None:
        """On file SQLite the property poll (every second, in every process) is one raw
        statement on the loop's connection, not a session's three round trips."""
        path = loopsql.file_database(self.engine.url)
        if path is None:
            return
        sql = self._properties_sql = loopsql.LoopSqlite(path, "props-sql")

        def read(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
            row = conn.execute(MARKER_SQL).fetchone()
            return (row[0], row[1]) if row is not None else (None, None)

        async def marker() -> tuple[int | None, int | None]:
            return await sql.run(read)

        self.properties.marker_reader = marker

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for provider in reversed(self.providers):
            try:
                await provider.stop()
            except Exception:
                log.exception("provider %s failed to stop", type(provider).__name__)
        if self._properties_sql is not None:
            self.properties.marker_reader = None
            self._properties_sql.close()
            self._properties_sql = None
        try:
            await self.election.stop()
        except Exception:
            log.exception("leaving the elections failed")
        if self.wakes is not None:
            wakes.install(None)
            await self.wakes.close()
        if self.read_engine is not None:
            await self.read_engine.dispose()
        await self.engine.dispose()
