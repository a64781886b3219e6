"""cross-validation: folds as jobs of their own, and a job's fold figures

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.core.db


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('training_jobs') as batch:
        batch.add_column(sa.Column('cv_folds', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('cv_metrics', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('cv_epochs', sa.Integer(), server_default='0', nullable=False))
    op.create_table('cv_folds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.Column('fold', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('epochs', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('predictions', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('enqueued_at', service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', service.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['training_jobs.id'], name=op.f('fk_cv_folds_job_id_training_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_cv_folds_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cv_folds')),
    sa.UniqueConstraint('job_id', 'fold', name=op.f('uq_cv_folds_job_id'))
    )
    with op.batch_alter_table('cv_folds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cv_folds_job_id'), ['job_id'], unique=False)
        batch_op.create_index('ix_cv_folds_status_heartbeat_at', ['status', 'heartbeat_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cv_folds_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cv_folds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cv_folds_tenant_id'))
        batch_op.drop_index('ix_cv_folds_status_heartbeat_at')
        batch_op.drop_index(batch_op.f('ix_cv_folds_job_id'))
    op.drop_table('cv_folds')
    with op.batch_alter_table('training_jobs') as batch:
        batch.drop_column('cv_epochs')
        batch.drop_column('cv_metrics')
        batch.drop_column('cv_folds')
