"""cloudwatch fresh buckets: ingest writes only the finest resolution (cw_fresh), the
coarser ones are rolled up at compaction

Revision ID: 0038_cloudwatch_fresh
Revises: 0036_service_hosts_coordination
Create Date: 2026-12-05 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0038_cloudwatch_fresh'
down_revision = '0036_service_hosts_coordination'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the rows already in cw_points keep their meaning (every resolution written on
    # ingest); compaction drains them into cw_blocks as before
    op.create_table(
        'cw_fresh',
        sa.Column('metric_key', sa.String(length=40), nullable=False),
        sa.Column('resolution', sa.Integer(), nullable=False),
        sa.Column('ts', sa.BigInteger(), nullable=False),
        sa.Column('unit', sa.String(length=32), nullable=False),
        sa.Column('count', sa.Float(), nullable=False),
        sa.Column('sum', sa.Float(), nullable=False),
        sa.Column('min', sa.Float(), nullable=False),
        sa.Column('max', sa.Float(), nullable=False),
        sa.Column('vals', sa.Text(), nullable=False),
        sa.Column('raw', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('metric_key', 'resolution', 'ts', 'unit',
                                name=op.f('pk_cw_fresh')),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('cw_fresh')
