"""iam: account administrators flagged (not named), session parents, credential epoch

The user named ``admin`` at path ``/`` of each account becomes its flagged
administrator; from then on the flag alone grants administration. STS sessions
record the long-term access key they derive from; a one-row counter lets API
workers drop cached credentials after a revocation in another worker.

Revision ID: 0010_iam_admin_flag
Revises: 0009_ebs_force_detach
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_iam_admin_flag'
down_revision = '0009_ebs_force_detach'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    users = sa.table('iam_users', sa.column('name_lower', sa.String()),
                     sa.column('path', sa.String()), sa.column('is_admin', sa.Boolean()))
    op.execute(users.update().where(users.c.name_lower == 'admin', users.c.path == '/')
               .values(is_admin=True))
    with op.batch_alter_table('sts_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_key_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_sts_sessions_parent_key_id'), ['parent_key_id'],
                              unique=False)
    epoch = op.create_table(
        'iam_credential_epoch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_credential_epoch')),
    )
    op.bulk_insert(epoch, [{'id': 1, 'generation': 0}])


def downgrade() -> None:
    op.drop_table('iam_credential_epoch')
    with op.batch_alter_table('sts_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sts_sessions_parent_key_id'))
        batch_op.drop_column('parent_key_id')
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.drop_column('is_admin')
