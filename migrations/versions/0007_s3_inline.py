"""s3: small objects' bytes inline in their version row

Revision ID: 0007_s3_inline
Revises: 0003_s3
Create Date: 2026-11-21 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_s3_inline'
down_revision = '0003_s3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('s3_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inline_data', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('s3_objects', schema=None) as batch_op:
        batch_op.drop_column('inline_data')
