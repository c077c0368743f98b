"""ebs: DetachVolume's Force kept with the intent (ebs_volumes.force_detach)

Revision ID: 0009_ebs_force_detach
Revises: 0008_merge
Create Date: 2026-12-04 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_ebs_force_detach'
down_revision = '0008_merge'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ebs_volumes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('force_detach', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('ebs_volumes', schema=None) as batch_op:
        batch_op.drop_column('force_detach')
