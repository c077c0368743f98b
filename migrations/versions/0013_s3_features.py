"""s3: bucket features (public access block, ownership, object lock, logging, website,
replication, request payment, accelerate, inventory) and queued access log records

Revision ID: 0013_s3_features
Revises: 0012_iam_tools
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_s3_features'
down_revision = '0012_iam_tools'
branch_labels = None
depends_on = None

_TEXT = ('public_access', 'object_lock', 'logging', 'website', 'replication', 'inventory')
_SHORT = (('ownership', 32), ('request_payment', 16), ('accelerate', 16))


def upgrade() -> None:
    with op.batch_alter_table('s3_buckets', schema=None) as batch_op:
        for name in _TEXT:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=True))
        for name, length in _SHORT:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    op.create_table(
        's3_log_records',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('bucket', sa.String(length=63), nullable=False),
        sa.Column('line', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_s3_log_records')),
    )
    op.create_index(op.f('ix_s3_log_records_bucket'), 's3_log_records', ['bucket'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_s3_log_records_bucket'), table_name='s3_log_records')
    op.drop_table('s3_log_records')
    with op.batch_alter_table('s3_buckets', schema=None) as batch_op:
        for name, _ in reversed(_SHORT):
            batch_op.drop_column(name)
        for name in reversed(_TEXT):
            batch_op.drop_column(name)
