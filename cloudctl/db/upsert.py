"""``INSERT ... ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL.

Start-up seeding runs in every worker at once on a fresh database; a check-then-insert
there races (two workers both see the row missing, one dies on the duplicate key).
Inserting with the conflict ignored makes the seed idempotent under concurrency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_missing(session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` (an ORM class), skipping rows whose key exists."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    await session.execute(module.insert(table).values(list(rows)).on_conflict_do_nothing())
