"""The stack engine's bulk writes of resource rows as driver-level statements: a pass's
new rows in one multi-row ``INSERT ... RETURNING`` and its ends in one ``UPDATE`` by
primary key a set of columns (an executemany); and a stack's conditional transition
(``transition``: the ORM's UPDATE of it was ~0.5 ms of a 1.2 ms transition).

SQLAlchemy's Core insert and ORM bulk update of a pass of 100 rows took 3.3 and 3.4 ms
of the cloud's CPU (compiling the multi-row statement, its bind processing, the ORM's
bulk-update bookkeeping), about 1 ms more each than these. Here each value goes through
its column type's bind processor for the dialect (JSON serialised, timestamps as the
column stores them: what the ORM would bind); a statement's text depends on its shape
only (the driver's statement cache reuses it). Fencing is told of these writes
(``fencing.wrote``): a superseded leader's transaction is refused as if the ORM had
written them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Dialect, Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.core import fencing
from cloudctl.services.cloudformation.models import Stack, StackResource

RESOURCES = cast(Table, StackResource.__table__)
STACKS = cast(Table, Stack.__table__)
COLUMN_OF = {attribute.key: attribute.columns[0].name
             for attribute in inspect(StackResource).column_attrs}
CHUNK = 400  # rows a multi-row INSERT carries (bound parameters are limited)


def _same(value: Any) -> Any:
    return value


@cache
def _processors(dialect: Dialect, table: Table = RESOURCES) -> dict[str, Callable[[Any], Any]]:
    """Each column's bind processor for ``dialect`` (identity where it has none)."""
    return {column.name: column.type.dialect_impl(dialect).bind_processor(dialect) or _same
            for column in table.columns}


EMPTY = (type(None), dict, list)  # values whose bound form depends on their type only


def _once_for_empty(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` for one statement's values, each of None, ``{}`` and ``[]`` processed
    once (a pass's new rows: no attributes, signals, old properties, metadata... were
    600 JSON serialisations a pass of 100 rows, ~100 needed); the processor's own
    output, reused. Identity stays identity."""
    if process is _same:
        return process
    done: dict[type, Any] = {}

    def bind(value: Any) -> Any:
        if not value:
            kind = type(value)
            if kind in EMPTY:
                if kind not in done:
                    done[kind] = process(value)
                return done[kind]
        return process(value)

    return bind


def _mark(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _row_major(rows: Sequence[dict[str, Any]], keys: list[str],
               bind: list[Callable[[Any], Any]]) -> tuple[Any, ...]:
    """The rows' values, each bound by its column's processor, one row after another
    (a multi-row INSERT's parameters): built a column at a time (no call for a column
    without processing), laid out by slice assignment."""
    width = len(keys)
    values: list[Any] = [None] * (len(rows) * width)
    for index, (key, process) in enumerate(zip(keys, bind, strict=True)):
        column = [row[key] for row in rows]
        values[index::width] = column if process is _same else list(map(process, column))
    return tuple(values)


async def insert_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]
                      ) -> dict[str, int]:
    """Insert ``rows`` (values by attribute key, every row the same keys, no id) with
    multi-row INSERTs in ``session``'s transaction; the new ids by logical id (unique
    among them)."""
    if not rows:
        return {}
    fencing.wrote(session.sync_session)  # the ORM does not see these statements
    connection = await session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    quote = dialect.identifier_preparer.quote
    names = [COLUMN_OF[key] for key in keys]
    bind = [_once_for_empty(_processors(dialect)[name]) for name in names]
    columns = ", ".join(quote(name) for name in names)
    group = f"({', '.join([_mark(dialect)] * len(keys))})"
    ids: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        sql = (f"INSERT INTO {RESOURCES.name} ({columns}) VALUES "
               f"{', '.join([group] * len(chunk))} RETURNING logical_id, id")
        found = await connection.exec_driver_sql(sql, _row_major(chunk, keys, bind))
        ids.update(cast(list[tuple[str, int]], found.all()))
    return ids


async def update_rows(session: AsyncSession, changes: dict[int, dict[str, Any]]) -> None:
    """Write each row's changed columns (values by attribute key) by id, in
    ``session``'s transaction: one UPDATE executemany for each set of columns changed
    together."""
    fencing.wrote(session.sync_session)  # the ORM does not see these statements
    connection = await session.connection()
    dialect = connection.dialect
    mark = _mark(dialect)
    quote = dialect.identifier_preparer.quote
    processors = {name: _once_for_empty(process)
                  for name, process in _processors(dialect).items()}
    by_keys: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row_id, values in changes.items():
        keys = tuple(sorted(values))
        by_keys.setdefault(keys, []).append(
            (*(processors[COLUMN_OF[key]](values[key]) for key in keys), row_id))
    for keys, params in by_keys.items():
        if not keys:
            continue
        sets = ", ".join(f"{quote(COLUMN_OF[key])} = {mark}" for key in keys)
        await connection.exec_driver_sql(
            f"UPDATE {RESOURCES.name} SET {sets} WHERE id = {mark}", params)


async def transition(session: AsyncSession, stack_id: str, expected: str, status: str,
                     reason: str | None, *, now: Any, outputs: list[dict[str, Any]] | None,
                     deleted: bool) -> tuple[str, str | None] | None:
    """The stack's status to ``status`` if it is still ``expected`` (its reason; the
    update time when its operation is an update; ``outputs`` when given; its deletion
    time when ``deleted``): its name and request token, None when its status was
    another."""
    fencing.wrote(session.sync_session)  # the ORM does not see this statement
    connection = await session.connection()
    dialect = connection.dialect
    mark = _mark(dialect)
    bind = _processors(dialect, STACKS)
    sets = [f"status = {mark}", f"status_reason = {mark}",
            f"updated_at = CASE WHEN operation = 'UPDATE' THEN {mark} ELSE updated_at END"]
    values: list[Any] = [status, reason, bind["updated_at"](now)]
    if outputs is not None:
        sets.append(f"outputs = {mark}")
        values.append(bind["outputs"](outputs))
    if deleted:
        sets.append(f"deleted_at = {mark}")
        values.append(bind["deleted_at"](now))
    found = cast(tuple[str, str | None] | None, (await connection.exec_driver_sql(
        f"UPDATE {STACKS.name} SET {', '.join(sets)} WHERE stack_id = {mark} AND "
        f"status = {mark} RETURNING name, request_token",
        (*values, stack_id, expected))).first())
    return None if found is None else (str(found[0]), found[1])
