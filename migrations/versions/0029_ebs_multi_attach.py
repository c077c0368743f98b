"""ebs: Multi-Attach volumes (ebs_volumes.multi_attach, ebs_volume_attachments)

Revision ID: 0029_ebs_multi_attach
Revises: 0028_s3_account_public_access
Create Date: 2026-12-05 04:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029_ebs_multi_attach'
down_revision = '0028_s3_account_public_access'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ebs_volumes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('multi_attach', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('ebs_volume_attachments',
    sa.Column('volume_id', sa.String(length=32), nullable=False),
    sa.Column('instance_id', sa.String(length=32), nullable=False),
    sa.Column('device', sa.String(length=64), nullable=False),
    sa.Column('attach_state', sa.String(length=16), nullable=False),
    sa.Column('attach_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delete_on_termination', sa.Boolean(), nullable=False),
    sa.Column('force_detach', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('volume_id', 'instance_id', name=op.f('pk_ebs_volume_attachments'))
    )
    with op.batch_alter_table('ebs_volume_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ebs_volume_attachments_attach_state'),
                              ['attach_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volume_attachments_instance_id'),
                              ['instance_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ebs_volume_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ebs_volume_attachments_instance_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_volume_attachments_attach_state'))
    op.drop_table('ebs_volume_attachments')
    with op.batch_alter_table('ebs_volumes', schema=None) as batch_op:
        batch_op.drop_column('multi_attach')
