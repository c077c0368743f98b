"""The service registry: this host's heartbeat and administrative state.

The controller process (worker 0) of every cloud host upserts its ``service_hosts``
row every ``HEARTBEAT_SECONDS`` (endpoint, the controller kinds it stands for and
leads, its ZooKeeper view), and at once when what it leads changes; every
process of the host reads the row's ``state`` on the same beat. A cloud on SQLite is
one host (no other host reads its row) whose election never changes on its own: it
beats every ``SINGLE_HOST_HEARTBEAT_SECONDS``, half of ``STALE_SECONDS``. A DISABLED host
(``ModifyService``, ``cloudctl service disable``) gives up every leadership
(``cloud.election.set_enabled(False)``) and its API refuses new work with 503
``ServiceUnavailable`` (Empyrean excepted, so it can be enabled again; the health
check answers 503 too, so a load balancer drains it).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, bindparam, select

from cloudctl.core import ticks
from cloudctl.core.election import LocalElection
from cloudctl.errors import AwsError
from cloudctl.services.empyrean.models import ServiceHost

if TYPE_CHECKING:
    from aiohttp import web

    from cloudctl.protocol.wire import WireRequest, WireResponse
    from cloudctl.server.cloud import Cloud
    from cloudctl.server.router import Route
    from cloudctl.server.runtime import Completed

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
SINGLE_HOST_HEARTBEAT_SECONDS = 5.0  # SQLite: see above
CHANGE_POLL_SECONDS = 0.2  # how often a ZooKeeper host's controller process looks for a
# leadership change (an embedded cloud's ``LocalElection`` changes only at start and with
# the host's own state, which the next beat writes: it sleeps the whole beat)
STALE_SECONDS = 10.0  # no heartbeat for this long: the host is NOTREADY
ENABLED, DISABLED, NOTREADY = "ENABLED", "DISABLED", "NOTREADY"

# the beat's two statements, built once: Core on the table, parameters bound per beat
# (an ORM-entity update built every beat: 2.0 against 1.2 ms of CPU a beat, idle)
_HOSTS = cast(Table, ServiceHost.__table__)
_BEAT = _HOSTS.update().where(_HOSTS.c.host == bindparam("b_host")).values(
    heartbeat=bindparam("b_now"))
_STATE = select(_HOSTS.c.state).where(_HOSTS.c.host == bindparam("b_host"))


class HostRegistry:
    """This host's row in ``service_hosts``, kept fresh; the host's state, applied."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.state = ENABLED
        self.started = datetime.now(UTC)
        self._written: tuple[list[str], str] | None = None  # leading, coordination
        # what the row holds besides the heartbeat (endpoint, kinds, leading, coordination)
        self._row_written: tuple[str, list[str], list[str], str] | None = None

    def _view(self) -> tuple[list[str], str]:
        """What this process leads and how it reaches ZooKeeper, now."""
        election = self.cloud.election
        return [term.kind for term in election.leading()], election.status()

    @property
    def host(self) -> str:
        return self.cloud.settings.host_id

    async def beat(self) -> None:
        """One heartbeat (worker 0) or state read (other workers)."""
        if self.cloud.worker_index == 0 and self._written is not None \
                and self._row_written == self._row_view():
            state = await self._touch()
            if state is not None:
                self.apply(state)
                return
        async with self.cloud.sessions() as session, session.begin():
            row = await session.get(ServiceHost, self.host)
            if self.cloud.worker_index == 0:
                now = datetime.now(UTC)
                endpoint = self.cloud.endpoint
                kinds = sorted(self.cloud.election.candidacies())
                leading, coordination = self._view()
                if row is None:
                    row = ServiceHost(host=self.host, endpoint=endpoint, state=ENABLED,
                                      controllers=kinds, leading=leading, heartbeat=now,
                                      started_at=self.started, coordination=coordination)
                    session.add(row)
                else:
                    row.endpoint, row.heartbeat = endpoint, now
                    if row.coordination != coordination:
                        row.coordination = coordination
                    if row.controllers != kinds:
                        row.controllers = kinds
                    if row.leading != leading:
                        row.leading = leading
                    if row.started_at != self.started:
                        row.started_at = self.started
                self._written = (leading, coordination)
                self._row_written = (endpoint, kinds, leading, coordination)
            state = row.state if row is not None else ENABLED
        self.apply(state)

    def _row_view(self) -> tuple[str, list[str], list[str], str]:
        leading, coordination = self._view()
        return (self.cloud.endpoint, sorted(self.cloud.election.candidacies()), leading,
                coordination)

    async def _touch(self) -> str | None:
        """The beat of a row that holds everything else already: its heartbeat set and
        its state read, two Core statements in one transaction (no ORM session: the
        beat runs every ``HEARTBEAT_SECONDS`` on an idle cloud). None when the row is
        gone (the full beat writes it again)."""
        async with self.cloud.engine.begin() as conn:
            done = await conn.execute(_BEAT, {"b_host": self.host, "b_now": datetime.now(UTC)})
            if not done.rowcount:
                return None
            state = (await conn.execute(_STATE, {"b_host": self.host})).scalar()
        return None if state is None else str(state)

    def apply(self, state: str) -> None:
        if state != self.state:
            log.warning("host %s is now %s", self.host, state)
        self.state = state
        self.cloud.serving = state == ENABLED
        self.cloud.election.set_enabled(state == ENABLED)

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("heartbeat of %s failed: %s", self.host, exc)
                self._written = None  # the next beat at its time: no retry storm
                self._row_written = None
            await self._until_next_beat()

    async def _until_next_beat(self) -> None:
        """``HEARTBEAT_SECONDS``; sooner in the controller process when what it leads or
        its ZooKeeper view changed since the row was written (DescribeServices shows a
        new leader, or a leader standing by, at once). An embedded cloud's election
        never changes on its own: no look in between (an idle cloud wakes once a beat),
        and on SQLite the longer beat of a cloud that is one host."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HEARTBEAT_SECONDS
        if isinstance(self.cloud.election, LocalElection):
            single = self.cloud.engine.dialect.name == "sqlite"
            await ticks.sleep(SINGLE_HOST_HEARTBEAT_SECONDS if single else HEARTBEAT_SECONDS)
            return
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(CHANGE_POLL_SECONDS, left))
            if self.cloud.worker_index == 0 and self._written is not None \
                    and self._view() != self._written:
                return


class DisabledHostHook:
    """A DISABLED host answers every request but Empyrean's with 503."""

    def __init__(self, registry: HostRegistry) -> None:
        self.registry = registry

    async def intercept(self, wire: WireRequest, request: web.BaseRequest,
                        request_id: str) -> WireResponse | None:
        if self.registry.state != DISABLED:
            return None
        from cloudctl.server import router
        from cloudctl.server.dispatch import error_response

        try:
            route = router.resolve(wire)
        except AwsError:
            route = None
        if route is not None and route.service == "empyrean":
            return None
        return error_response(route, AwsError(
            f"The cloud host {self.registry.host} is disabled for maintenance.",
            code="ServiceUnavailable", status=503), request_id)

    def streams_body(self, route: Route, wire: WireRequest) -> bool:
        return False

    async def decorate(self, route: Route, wire: WireRequest, request: web.BaseRequest,
                       request_id: str, response: WireResponse) -> None:
        return None

    def completed(self, done: Completed) -> None:
        return None

    def early_read(self, route: Route, wire: WireRequest) -> object | None:
        return None
