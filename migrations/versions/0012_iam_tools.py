"""iam: SSH public keys, service-specific credentials, credential reports, permissions
boundaries, role last use, tags of managed policies and instance profiles

Revision ID: 0012_iam_tools
Revises: 0010_iam_admin_flag
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_iam_tools'
down_revision = '0010_iam_admin_flag'
branch_labels = None
depends_on = None


def _account() -> sa.Column[str]:
    return sa.Column('account_id', sa.String(length=12), nullable=False)


def upgrade() -> None:
    op.create_table(
        'iam_ssh_public_keys',
        sa.Column('ssh_key_id', sa.String(length=32), nullable=False),
        _account(),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'],
                                name=op.f('fk_iam_ssh_public_keys_account_id_iam_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['iam_users.user_id'],
                                name=op.f('fk_iam_ssh_public_keys_user_id_iam_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ssh_key_id', name=op.f('pk_iam_ssh_public_keys')),
    )
    op.create_index(op.f('ix_iam_ssh_public_keys_account_id'), 'iam_ssh_public_keys',
                    ['account_id'])
    op.create_index(op.f('ix_iam_ssh_public_keys_user_id'), 'iam_ssh_public_keys', ['user_id'])
    op.create_table(
        'iam_service_credentials',
        sa.Column('credential_id', sa.String(length=32), nullable=False),
        _account(),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('service_name', sa.String(length=128), nullable=False),
        sa.Column('service_user_name', sa.String(length=200), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'],
                                name=op.f('fk_iam_service_credentials_account_id_iam_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['iam_users.user_id'],
                                name=op.f('fk_iam_service_credentials_user_id_iam_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('credential_id', name=op.f('pk_iam_service_credentials')),
    )
    op.create_index(op.f('ix_iam_service_credentials_account_id'), 'iam_service_credentials',
                    ['account_id'])
    op.create_index(op.f('ix_iam_service_credentials_user_id'), 'iam_service_credentials',
                    ['user_id'])
    op.create_table(
        'iam_credential_reports',
        _account(),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'],
                                name=op.f('fk_iam_credential_reports_account_id_iam_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_iam_credential_reports')),
    )
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('permissions_boundary', sa.String(length=2048),
                                      nullable=True))
    with op.batch_alter_table('iam_roles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('permissions_boundary', sa.String(length=2048),
                                      nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_used_region', sa.String(length=64), nullable=True))
    for table in ('iam_managed_policies', 'iam_instance_profiles'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('tags_json', sa.Text(), nullable=False,
                                          server_default='[]'))


def downgrade() -> None:
    for table in ('iam_managed_policies', 'iam_instance_profiles'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('tags_json')
    with op.batch_alter_table('iam_roles', schema=None) as batch_op:
        batch_op.drop_column('last_used_region')
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('permissions_boundary')
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.drop_column('permissions_boundary')
    op.drop_table('iam_credential_reports')
    op.drop_index(op.f('ix_iam_service_credentials_user_id'), table_name='iam_service_credentials')
    op.drop_index(op.f('ix_iam_service_credentials_account_id'),
                  table_name='iam_service_credentials')
    op.drop_table('iam_service_credentials')
    op.drop_index(op.f('ix_iam_ssh_public_keys_user_id'), table_name='iam_ssh_public_keys')
    op.drop_index(op.f('ix_iam_ssh_public_keys_account_id'), table_name='iam_ssh_public_keys')
    op.drop_table('iam_ssh_public_keys')
