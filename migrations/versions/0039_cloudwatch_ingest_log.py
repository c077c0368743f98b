"""cloudwatch ingest log: a group commit's usual PutMetricData data appended as one
row (cw_ingest) on SQLite, drained into cw_fresh soon after and by compaction

Revision ID: 0039_cloudwatch_ingest_log
Revises: 0038_cloudwatch_fresh
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0039_cloudwatch_ingest_log'
down_revision = '0038_cloudwatch_fresh'
branch_labels = None
depends_on = None


class _Plain(pickle.Unpickler):
    """A log row's plain data (``cloudctl.services.cloudwatch.ingestlog.pack``)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"not plain data: {module}.{name}")


def upgrade() -> None:
    # new and empty: the rows already in cw_fresh keep their meaning
    op.create_table(
        'cw_ingest',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cw_ingest')),
    )


def downgrade() -> None:
    # data still in the log goes into its cw_fresh rows first (the older code reads only
    # those): one upsert a datum, in the log's order, as the ingest before this revision
    bind = op.get_bind()
    upsert = sa.text(
        "INSERT INTO cw_fresh (metric_key, resolution, ts, unit, count, sum, min, max, "
        "vals, raw) VALUES (:k, 60, :ts, :u, 1, :v, :v, :v, :t, :raw) "
        "ON CONFLICT (metric_key, resolution, ts, unit) DO UPDATE SET "
        "count = cw_fresh.count + excluded.count, sum = cw_fresh.sum + excluded.sum, "
        "min = min(cw_fresh.min, excluded.min), max = max(cw_fresh.max, excluded.max), "
        "vals = CASE WHEN cw_fresh.raw AND excluded.raw THEN cw_fresh.vals || "
        "excluded.vals ELSE '' END, raw = cw_fresh.raw AND excluded.raw")
    for (data,) in bind.execute(sa.text("SELECT data FROM cw_ingest ORDER BY id")).all():
        for key, ts, unit, value in _Plain(io.BytesIO(data)).load():
            bind.execute(upsert, {"k": key, "ts": ts, "u": unit, "v": value,
                                  "t": f",{value!r}", "raw": True})
    op.drop_table('cw_ingest')
