"""front door: accounts, users, access keys, properties, zones

Revision ID: 0001
Revises:
Create Date: 2026-11-21 00:42:45.665091
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('cloud_properties',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cloud_properties'))
    )
    with op.batch_alter_table('cloud_properties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_properties_revision'), ['revision'], unique=False)

    op.create_table('cloud_zones',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cloud_zones')),
    sa.UniqueConstraint('zone_id', name=op.f('uq_cloud_zones_zone_id'))
    )
    with op.batch_alter_table('cloud_zones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_zones_region'), ['region'], unique=False)

    op.create_table('iam_accounts',
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('canonical_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_iam_accounts')),
    sa.UniqueConstraint('canonical_id', name=op.f('uq_iam_accounts_canonical_id')),
    sa.UniqueConstraint('name', name=op.f('uq_iam_accounts_name'))
    )
    op.create_table('iam_users',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_lower', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('password_last_used', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_users_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_iam_users')),
    sa.UniqueConstraint('account_id', 'name_lower', name=op.f('uq_iam_users_account_id'))
    )
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_users_account_id'), ['account_id'], unique=False)

    op.create_table('iam_access_keys',
    sa.Column('access_key_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_service', sa.String(length=64), nullable=True),
    sa.Column('last_used_region', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_access_keys_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.user_id'], name=op.f('fk_iam_access_keys_user_id_iam_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('access_key_id', name=op.f('pk_iam_access_keys'))
    )
    with op.batch_alter_table('iam_access_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_access_keys_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_access_keys_user_id'), ['user_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('iam_access_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_access_keys_user_id'))
        batch_op.drop_index(batch_op.f('ix_iam_access_keys_account_id'))

    op.drop_table('iam_access_keys')
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_users_account_id'))

    op.drop_table('iam_users')
    op.drop_table('iam_accounts')
    with op.batch_alter_table('cloud_zones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_zones_region'))

    op.drop_table('cloud_zones')
    with op.batch_alter_table('cloud_properties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_properties_revision'))

    op.drop_table('cloud_properties')

