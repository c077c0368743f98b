"""Schema migrations: one head, and every earlier released state upgrades to it.

Released states are the revisions an installed cloud can be at: each branch head
as it was released (a database created at that time sits at some subset of them).
Each is upgraded to ``heads`` on SQLite and PostgreSQL; the result must be the one
head, with the same tables as a fresh upgrade.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from cloudctl.db import migrate
from cloudctl.db.engine import sync_url
from tests.infra import postgres

RELEASED = [
    ("0001",),
    ("0002_iam", "0004_compute", "0005_ebs", "0006_network", "0003_s3"),
    ("0002_iam", "0004_compute", "0005_ebs", "0006_network", "0007_s3_inline"),
]


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite+aiosqlite:///unused"))


def _tables(url: str) -> dict[str, set[str]]:
    engine = create_engine(sync_url(url))
    try:
        insp = inspect(engine)
        return {t: {c["name"] for c in insp.get_columns(t)}
                for t in insp.get_table_names() if t != "alembic_version"}
    finally:
        engine.dispose()


def test_one_head() -> None:
    assert len(_script().get_heads()) == 1, _script().get_heads()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A factory of empty databases of the parametrized kind."""

    def make(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / name}.db"
        server: postgres.PostgresServer = request.getfixturevalue("pg_server")
        return server.create_database(f"mig_{name}_{tmp_path.name[-8:]}".lower())
    return make


@pytest.mark.parametrize("released", RELEASED, ids=lambda r: "+".join(r))
def test_upgrade_from_released_state(database: Callable[[str], str],
                                     released: tuple[str, ...]) -> None:
    fresh, old = database("fresh"), database("old")
    migrate.upgrade(fresh)
    for rev in released:
        migrate.upgrade(old, rev)
    migrate.upgrade(old)
    head = _script().get_current_head()
    assert migrate.current(old) == head
    assert _tables(old) == _tables(fresh)


def test_the_service_catalog_tables_are_what_the_migrations_make(tmp_path: Path) -> None:
    """Every service's tables (``catalog.metadata()``, which alembic reads) match the
    schema the migrations build: a table missing from a ServiceSpec, or a model change
    without a migration, shows up here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from cloudctl.services.catalog import metadata

    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    migrate.upgrade(url)
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            drift = compare_metadata(MigrationContext.configure(conn), metadata())
    finally:
        engine.dispose()
    assert drift == []
