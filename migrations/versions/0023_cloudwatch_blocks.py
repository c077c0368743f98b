"""cloudwatch blocks: compacted metric buckets as packed arrays (cw_blocks)

Revision ID: 0023_cloudwatch_blocks
Revises: 0029_ebs_multi_attach
Create Date: 2026-12-05 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023_cloudwatch_blocks'
down_revision = '0029_ebs_multi_attach'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cw_blocks',
        sa.Column('metric_key', sa.String(length=40), nullable=False),
        sa.Column('resolution', sa.Integer(), nullable=False),
        sa.Column('start', sa.BigInteger(), nullable=False),
        sa.Column('unit', sa.String(length=32), nullable=False),
        sa.Column('count', sa.LargeBinary(), nullable=False),
        sa.Column('sum', sa.LargeBinary(), nullable=False),
        sa.Column('min', sa.LargeBinary(), nullable=False),
        sa.Column('max', sa.LargeBinary(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('vals', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('metric_key', 'resolution', 'start', 'unit',
                                name=op.f('pk_cw_blocks')),
    )
    op.create_index('ix_cw_blocks_age', 'cw_blocks', ['resolution', 'start'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_cw_blocks_age', table_name='cw_blocks')
    op.drop_table('cw_blocks')
