"""DescribeAutoScalingGroups' page on SQLite, on a plain ``sqlite3`` connection.

A page is two reads: the groups after the token's name (keyset on the account's
unique (account, region, name), ``LIMIT size + 1``), then the page's launched
instances. Through SQLAlchemy's ORM and aiosqlite each costs a session, a pooled
connection and thread hops, about half of a page's CPU; here each is a few C calls
on the event loop's own connection. It never waits there: it has no busy timeout,
and a locked database sends the read to a thread that waits as the engine does.
Reads only (writes stay on the ORM and its write gate). The rows come back as
named tuples with the ORM's column names and types (UTC timestamps, booleans), so
``group_shape`` reads them as it reads ORM rows. PostgreSQL keeps the ORM path
(``for_cloud`` returns None).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from cloudctl.db.loopsql import LoopSqlite
from cloudctl.protocol.common import IsoTimestamp, iso_timestamp
from cloudctl.server.runtime import RuntimeKey

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

class GroupRow(NamedTuple):
    arn: str
    name: str
    account_id: str
    min_size: int
    max_size: int
    desired: int
    created_at: datetime | IsoTimestamp  # the answer's text, on SQLite
    status: str
    definition: str


class InstanceRow(NamedTuple):
    group_arn: str
    instance_id: str
    instance_type: str
    zone: str
    lifecycle_state: str
    health: str
    protected: bool
    launch_source: str


_GROUPS = ("SELECT arn, name, account_id, min_size, max_size, desired, created_at, status, "
           "definition FROM as_groups WHERE account_id = ? AND region = ? AND name > ? {names}"
           "ORDER BY name LIMIT ?")
_INSTANCES = ("SELECT group_arn, instance_id, instance_type, zone, lifecycle_state, health, "
              "protected, launch_source FROM as_instances "
              "WHERE group_arn IN ({arns}) AND instance_id IS NOT NULL ORDER BY instance_id")


def _stamp(value: str | datetime) -> datetime | IsoTimestamp:
    """A timestamp as SQLAlchemy's SQLite ``DateTime`` stores it: its text handed on as
    the answer's (no datetime parsed per group, then formatted back), or aware UTC."""
    if isinstance(value, str):
        return iso_timestamp(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class FastGroups:
    """The page's two reads on the loop's own connection; see the module docstring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._sql = LoopSqlite(path, "as-sql")

    async def page(self, account: str, region: str, names: list[str], after: str | None,
                   size: int) -> tuple[list[GroupRow], dict[str, list[InstanceRow]]]:
        """Up to ``size + 1`` groups named after ``after`` (only ``names`` if given), and
        the launched instances of the first ``size`` of them, by group ARN."""
        def work(conn: sqlite3.Connection) -> tuple[list[GroupRow],
                                                    dict[str, list[InstanceRow]]]:
            conn.execute("BEGIN")  # one snapshot for both reads
            try:
                return read(conn)
            finally:
                conn.execute("COMMIT")

        def read(conn: sqlite3.Connection) -> tuple[list[GroupRow],
                                                    dict[str, list[InstanceRow]]]:
            clause = f"AND name IN ({', '.join('?' * len(names))}) " if names else ""
            rows = conn.execute(_GROUPS.format(names=clause),
                                (account, region, after or "", *names, size + 1)).fetchall()
            groups = [GroupRow(r[0], r[1], r[2], r[3], r[4], r[5], _stamp(r[6]), r[7] or "", r[8])
                      for r in rows]
            members: dict[str, list[InstanceRow]] = {g.arn: [] for g in groups[:size]}
            if members:
                found = conn.execute(_INSTANCES.format(arns=", ".join("?" * len(members))),
                                     tuple(members)).fetchall()
                for r in found:
                    members[r[0]].append(InstanceRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]),
                                                     r[7] or "{}"))
            return groups, members

        return await self._sql.run(work)

    def close(self) -> None:
        self._sql.close()


FAST = RuntimeKey[FastGroups | None]("autoscaling.fastsql")


def for_cloud(cloud: Cloud) -> FastGroups | None:
    """The process's :class:`FastGroups` (made on first use), None when not on file
    SQLite."""

    def make() -> FastGroups | None:
        url = cloud.engine.url
        database = url.database
        if str(url.drivername).startswith("sqlite") and database and \
                database != ":memory:" and not database.startswith("file:"):
            return FastGroups(str(database))
        return None

    found: FastGroups | None = cloud.runtime.setdefault(FAST, make)
    return found
