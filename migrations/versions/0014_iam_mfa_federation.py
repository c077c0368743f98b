"""iam: virtual MFA devices, OIDC and SAML identity providers, service-linked role deletions

Revision ID: 0014_iam_mfa_federation
Revises: 0013_s3_features
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_iam_mfa_federation'
down_revision = '0013_s3_features'
branch_labels = None
depends_on = None


def _account(table: str) -> sa.Column[str]:
    return sa.Column('account_id', sa.String(length=12),
                     sa.ForeignKey('iam_accounts.account_id', ondelete='CASCADE',
                                   name=f'fk_{table}_account_id_iam_accounts'),
                     nullable=False)


def _index(table: str) -> None:
    op.create_index(f'ix_{table}_account_id', table, ['account_id'], unique=False)


def upgrade() -> None:
    op.create_table(
        'iam_mfa_devices',
        sa.Column('serial', sa.String(length=512), nullable=False),
        _account('iam_mfa_devices'),
        sa.Column('name', sa.String(length=226), nullable=False),
        sa.Column('path', sa.String(length=512), nullable=False),
        sa.Column('seed_sealed', sa.Text(), nullable=False),
        sa.Column('user_id', sa.String(length=32),
                  sa.ForeignKey('iam_users.user_id', ondelete='SET NULL',
                                name='fk_iam_mfa_devices_user_id_iam_users'), nullable=True),
        sa.Column('enabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_step', sa.Integer(), nullable=False),
        sa.Column('drift', sa.Integer(), nullable=False),
        sa.Column('tags_json', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('serial', name='pk_iam_mfa_devices'),
    )
    _index('iam_mfa_devices')
    op.create_index('ix_iam_mfa_devices_user_id', 'iam_mfa_devices', ['user_id'], unique=False)
    op.create_table(
        'iam_oidc_providers',
        sa.Column('arn', sa.String(length=1024), nullable=False),
        _account('iam_oidc_providers'),
        sa.Column('url', sa.String(length=1024), nullable=False),
        sa.Column('client_ids_json', sa.Text(), nullable=False),
        sa.Column('thumbprints_json', sa.Text(), nullable=False),
        sa.Column('tags_json', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('arn', name='pk_iam_oidc_providers'),
    )
    _index('iam_oidc_providers')
    op.create_table(
        'iam_saml_providers',
        sa.Column('arn', sa.String(length=1024), nullable=False),
        _account('iam_saml_providers'),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('metadata_document', sa.Text(), nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('tags_json', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('arn', name='pk_iam_saml_providers'),
    )
    _index('iam_saml_providers')
    op.create_table(
        'iam_slr_deletions',
        sa.Column('task_id', sa.String(length=1024), nullable=False),
        _account('iam_slr_deletions'),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('task_id', name='pk_iam_slr_deletions'),
    )
    _index('iam_slr_deletions')


def downgrade() -> None:
    for table in ('iam_slr_deletions', 'iam_saml_providers', 'iam_oidc_providers',
                  'iam_mfa_devices'):
        op.drop_table(table)
