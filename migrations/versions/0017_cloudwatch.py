"""cloudwatch: metric catalog, rolled-up points, alarms, alarm history and action
outbox, dashboards

Revision ID: 0017_cloudwatch
Revises: 0016_ec2_vpc
Create Date: 2026-12-04 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017_cloudwatch'
down_revision = '0016_ec2_vpc'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TS = sa.DateTime(timezone=True)


def _regional() -> list[sa.Column[object]]:
    return [sa.Column('account_id', sa.String(length=12), nullable=False),
            sa.Column('region', sa.String(length=64), nullable=False)]


def _regional_indexes(table: str) -> None:
    op.create_index(op.f(f'ix_{table}_account_id'), table, ['account_id'], unique=False)
    op.create_index(op.f(f'ix_{table}_region'), table, ['region'], unique=False)


def upgrade() -> None:
    op.create_table(
        'cw_metrics',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('namespace', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('dimensions', sa.Text(), nullable=False),
        sa.Column('last_seen', _TS, nullable=False),
        *_regional(),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_cw_metrics')),
    )
    _regional_indexes('cw_metrics')
    op.create_index('ix_cw_metrics_lookup', 'cw_metrics',
                    ['account_id', 'region', 'namespace', 'name'], unique=False)
    op.create_table(
        'cw_points',
        sa.Column('metric_key', sa.String(length=40), nullable=False),
        sa.Column('resolution', sa.Integer(), nullable=False),
        sa.Column('ts', sa.BigInteger(), nullable=False),
        sa.Column('unit', sa.String(length=32), nullable=False),
        sa.Column('count', sa.Float(), nullable=False),
        sa.Column('sum', sa.Float(), nullable=False),
        sa.Column('min', sa.Float(), nullable=False),
        sa.Column('max', sa.Float(), nullable=False),
        sa.Column('vals', sa.Text(), nullable=False),
        sa.Column('raw', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('metric_key', 'resolution', 'ts', 'unit',
                                name=op.f('pk_cw_points')),
    )
    op.create_index('ix_cw_points_age', 'cw_points', ['resolution', 'ts'], unique=False)
    op.create_table(
        'cw_alarms',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('arn', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('definition', sa.Text(), nullable=False),
        sa.Column('namespace', sa.String(length=255), nullable=True),
        sa.Column('metric_name', sa.String(length=255), nullable=True),
        sa.Column('dimensions', sa.Text(), nullable=True),
        sa.Column('actions_enabled', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('state_reason', sa.Text(), nullable=False),
        sa.Column('state_reason_data', sa.Text(), nullable=True),
        sa.Column('state_updated', _TS, nullable=False),
        sa.Column('state_transitioned', _TS, nullable=False),
        sa.Column('config_updated', _TS, nullable=False),
        sa.Column('transitions', sa.Integer(), nullable=False),
        sa.Column('evaluated_at', sa.BigInteger(), nullable=False),
        sa.Column('tags', sa.Text(), nullable=False),
        *_regional(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cw_alarms')),
        sa.UniqueConstraint('account_id', 'region', 'name', name='uq_cw_alarms_name'),
    )
    _regional_indexes('cw_alarms')
    op.create_index('ix_cw_alarms_metric', 'cw_alarms',
                    ['account_id', 'region', 'namespace', 'metric_name'], unique=False)
    op.create_table(
        'cw_alarm_history',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('alarm_name', sa.String(length=255), nullable=False),
        sa.Column('alarm_type', sa.String(length=16), nullable=False),
        sa.Column('timestamp', _TS, nullable=False),
        sa.Column('item_type', sa.String(length=32), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        *_regional(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cw_alarm_history')),
    )
    _regional_indexes('cw_alarm_history')
    op.create_index('ix_cw_alarm_history_alarm', 'cw_alarm_history',
                    ['account_id', 'region', 'alarm_name', 'timestamp'], unique=False)
    op.create_table(
        'cw_alarm_actions',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('alarm_id', sa.BigInteger(), nullable=False),
        sa.Column('transition', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=1024), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created', _TS, nullable=False),
        sa.Column('done_at', _TS, nullable=True),
        sa.Column('result', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cw_alarm_actions')),
        sa.UniqueConstraint('alarm_id', 'transition', 'action',
                            name='uq_cw_alarm_actions_once'),
    )
    op.create_index(op.f('ix_cw_alarm_actions_alarm_id'), 'cw_alarm_actions', ['alarm_id'],
                    unique=False)
    op.create_index(op.f('ix_cw_alarm_actions_status'), 'cw_alarm_actions', ['status'],
                    unique=False)
    op.create_table(
        'cw_dashboards',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('last_modified', _TS, nullable=False),
        *_regional(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cw_dashboards')),
        sa.UniqueConstraint('account_id', 'region', 'name', name='uq_cw_dashboards_name'),
    )
    _regional_indexes('cw_dashboards')


def downgrade() -> None:
    for table in ('cw_dashboards', 'cw_alarm_actions', 'cw_alarm_history', 'cw_alarms',
                  'cw_points', 'cw_metrics'):
        op.drop_table(table)
