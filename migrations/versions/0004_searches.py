"""hyperparameter searches, and trials on training jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.core.db


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('searches',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('dataset_id', sa.String(length=40), nullable=False),
    sa.Column('base', sa.JSON(), nullable=False),
    sa.Column('space', sa.JSON(), nullable=False),
    sa.Column('strategy', sa.String(length=20), nullable=False),
    sa.Column('sample', sa.Boolean(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('objective', sa.JSON(), nullable=False),
    sa.Column('early_termination', sa.JSON(), nullable=True),
    sa.Column('limits', sa.JSON(), nullable=False),
    sa.Column('register', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('best_job_id', sa.String(length=40), nullable=True),
    sa.Column('best_trial', sa.Integer(), nullable=True),
    sa.Column('best_model_id', sa.String(length=40), nullable=True),
    sa.Column('best_params', sa.JSON(), nullable=True),
    sa.Column('best_objective', sa.Float(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('started_at', service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_searches_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_searches')),
    sa.UniqueConstraint('tenant_id', 'idempotency_key', name=op.f('uq_searches_tenant_id'))
    )
    with op.batch_alter_table('searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_searches_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_searches_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('training_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('trial', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('config_key', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_training_jobs_search_id'), ['search_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_training_jobs_search_id'), ['search_id', 'config_key'])
        batch_op.create_foreign_key(batch_op.f('fk_training_jobs_search_id_searches'), 'searches', ['search_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('training_jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_training_jobs_search_id_searches'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_training_jobs_search_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_training_jobs_search_id'))
        batch_op.drop_column('config_key')
        batch_op.drop_column('params')
        batch_op.drop_column('trial')
        batch_op.drop_column('search_id')

    with op.batch_alter_table('searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_searches_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_searches_dataset_id'))

    op.drop_table('searches')
