"""iam: groups, roles, policies, certificates, sts sessions

Revision ID: 0002_iam
Revises: 0001
Create Date: 2026-11-21 00:53:11.232395
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_iam'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('iam_account_settings',
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('alias', sa.String(length=63), nullable=True),
    sa.Column('password_policy', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_account_settings_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_iam_account_settings')),
    sa.UniqueConstraint('alias', name=op.f('uq_iam_account_settings_alias'))
    )

    op.create_table('iam_groups',
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_lower', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_groups_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_iam_groups')),
    sa.UniqueConstraint('account_id', 'name_lower', name=op.f('uq_iam_groups_account_id'))
    )

    with op.batch_alter_table('iam_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_groups_account_id'), ['account_id'], unique=False)

    op.create_table('iam_inline_policies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('owner_type', sa.String(length=8), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_inline_policies_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_inline_policies')),
    sa.UniqueConstraint('owner_id', 'name', name=op.f('uq_iam_inline_policies_owner_id'))
    )

    with op.batch_alter_table('iam_inline_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_inline_policies_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_inline_policies_owner_id'), ['owner_id'], unique=False)

    op.create_table('iam_managed_policies',
    sa.Column('policy_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('arn', sa.String(length=1024), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_lower', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('default_version', sa.String(length=8), nullable=False),
    sa.Column('next_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_managed_policies_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', name=op.f('pk_iam_managed_policies')),
    sa.UniqueConstraint('account_id', 'name_lower', name=op.f('uq_iam_managed_policies_account_id')),
    sa.UniqueConstraint('arn', name=op.f('uq_iam_managed_policies_arn'))
    )

    with op.batch_alter_table('iam_managed_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_managed_policies_account_id'), ['account_id'], unique=False)

    op.create_table('iam_policy_attachments',
    sa.Column('policy_arn', sa.String(length=1024), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('owner_type', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_policy_attachments_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_arn', 'owner_id', name=op.f('pk_iam_policy_attachments'))
    )

    with op.batch_alter_table('iam_policy_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_policy_attachments_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_policy_attachments_owner_id'), ['owner_id'], unique=False)

    op.create_table('iam_roles',
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_lower', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('trust_policy', sa.Text(), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('max_session_duration', sa.Integer(), nullable=False),
    sa.Column('tags_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_roles_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('role_id', name=op.f('pk_iam_roles')),
    sa.UniqueConstraint('account_id', 'name_lower', name=op.f('uq_iam_roles_account_id'))
    )

    with op.batch_alter_table('iam_roles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_roles_account_id'), ['account_id'], unique=False)

    op.create_table('iam_server_certificates',
    sa.Column('certificate_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_lower', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('chain', sa.Text(), nullable=True),
    sa.Column('private_key_sealed', sa.Text(), nullable=False),
    sa.Column('expiration', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_server_certificates_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('certificate_id', name=op.f('pk_iam_server_certificates')),
    sa.UniqueConstraint('account_id', 'name_lower', name=op.f('uq_iam_server_certificates_account_id'))
    )

    with op.batch_alter_table('iam_server_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_server_certificates_account_id'), ['account_id'], unique=False)

    op.create_table('sts_sessions',
    sa.Column('access_key_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('token_sealed', sa.Text(), nullable=False),
    sa.Column('principal_type', sa.String(length=16), nullable=False),
    sa.Column('principal_arn', sa.String(length=2048), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('source_id', sa.String(length=32), nullable=False),
    sa.Column('session_policy', sa.Text(), nullable=True),
    sa.Column('attributes_json', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_sts_sessions_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('access_key_id', name=op.f('pk_sts_sessions'))
    )

    with op.batch_alter_table('sts_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sts_sessions_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sts_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sts_sessions_source_id'), ['source_id'], unique=False)

    op.create_table('iam_group_members',
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['iam_groups.group_id'], name=op.f('fk_iam_group_members_group_id_iam_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.user_id'], name=op.f('fk_iam_group_members_user_id_iam_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_iam_group_members'))
    )

    with op.batch_alter_table('iam_group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_group_members_user_id'), ['user_id'], unique=False)

    op.create_table('iam_instance_profiles',
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_lower', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('role_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_instance_profiles_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['role_id'], ['iam_roles.role_id'], name=op.f('fk_iam_instance_profiles_role_id_iam_roles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('profile_id', name=op.f('pk_iam_instance_profiles')),
    sa.UniqueConstraint('account_id', 'name_lower', name=op.f('uq_iam_instance_profiles_account_id'))
    )

    with op.batch_alter_table('iam_instance_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_instance_profiles_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_instance_profiles_role_id'), ['role_id'], unique=False)

    op.create_table('iam_login_profiles',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('reset_required', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.user_id'], name=op.f('fk_iam_login_profiles_user_id_iam_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_iam_login_profiles'))
    )

    op.create_table('iam_policy_versions',
    sa.Column('policy_id', sa.String(length=32), nullable=False),
    sa.Column('version_id', sa.String(length=8), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['iam_managed_policies.policy_id'], name=op.f('fk_iam_policy_versions_policy_id_iam_managed_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'version_id', name=op.f('pk_iam_policy_versions'))
    )

    op.create_table('iam_signing_certificates',
    sa.Column('certificate_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['iam_accounts.account_id'], name=op.f('fk_iam_signing_certificates_account_id_iam_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.user_id'], name=op.f('fk_iam_signing_certificates_user_id_iam_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('certificate_id', name=op.f('pk_iam_signing_certificates'))
    )

    with op.batch_alter_table('iam_signing_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_signing_certificates_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_signing_certificates_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags_json', sa.Text(), server_default='[]', nullable=False))

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table('iam_users', schema=None) as batch_op:
        batch_op.drop_column('tags_json')

    with op.batch_alter_table('iam_signing_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_signing_certificates_user_id'))
        batch_op.drop_index(batch_op.f('ix_iam_signing_certificates_account_id'))

    op.drop_table('iam_signing_certificates')

    op.drop_table('iam_policy_versions')

    op.drop_table('iam_login_profiles')

    with op.batch_alter_table('iam_instance_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_instance_profiles_role_id'))
        batch_op.drop_index(batch_op.f('ix_iam_instance_profiles_account_id'))

    op.drop_table('iam_instance_profiles')

    with op.batch_alter_table('iam_group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_group_members_user_id'))

    op.drop_table('iam_group_members')

    with op.batch_alter_table('sts_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sts_sessions_source_id'))
        batch_op.drop_index(batch_op.f('ix_sts_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_sts_sessions_account_id'))

    op.drop_table('sts_sessions')

    with op.batch_alter_table('iam_server_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_server_certificates_account_id'))

    op.drop_table('iam_server_certificates')

    with op.batch_alter_table('iam_roles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_roles_account_id'))

    op.drop_table('iam_roles')

    with op.batch_alter_table('iam_policy_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_policy_attachments_owner_id'))
        batch_op.drop_index(batch_op.f('ix_iam_policy_attachments_account_id'))

    op.drop_table('iam_policy_attachments')

    with op.batch_alter_table('iam_managed_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_managed_policies_account_id'))

    op.drop_table('iam_managed_policies')

    with op.batch_alter_table('iam_inline_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_inline_policies_owner_id'))
        batch_op.drop_index(batch_op.f('ix_iam_inline_policies_account_id'))

    op.drop_table('iam_inline_policies')

    with op.batch_alter_table('iam_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_groups_account_id'))

    op.drop_table('iam_groups')

    op.drop_table('iam_account_settings')
