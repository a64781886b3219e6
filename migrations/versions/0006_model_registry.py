"""model registry: registered models, versions, aliases and their history

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.core.db


revision: str = '0006'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('registered_models',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=False),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('created_at', service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_registered_models_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registered_models')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_registered_models_tenant_id'))
    )
    op.create_index(op.f('ix_registered_models_tenant_id'), 'registered_models', ['tenant_id'], unique=False)
    op.create_table('model_versions',
    sa.Column('registered_model_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_model_versions_model_id_models')),
    sa.ForeignKeyConstraint(['registered_model_id'], ['registered_models.id'], name=op.f('fk_model_versions_registered_model_id_registered_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registered_model_id', 'version', name=op.f('pk_model_versions'))
    )
    op.create_index(op.f('ix_model_versions_model_id'), 'model_versions', ['model_id'], unique=False)
    op.create_table('aliases',
    sa.Column('registered_model_id', sa.String(length=40), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.String(length=40), nullable=False),
    sa.Column('updated_at', service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registered_model_id'], ['registered_models.id'], name=op.f('fk_aliases_registered_model_id_registered_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registered_model_id', 'alias', name=op.f('pk_aliases'))
    )
    op.create_table('alias_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('registered_model_id', sa.String(length=40), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('previous_version', sa.Integer(), nullable=True),
    sa.Column('at', service.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registered_model_id'], ['registered_models.id'], name=op.f('fk_alias_history_registered_model_id_registered_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alias_history'))
    )
    op.create_index('ix_alias_history_alias', 'alias_history', ['registered_model_id', 'alias', 'id'], unique=False)
    with op.batch_alter_table('training_jobs') as batch:
        batch.add_column(sa.Column('register', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('training_jobs') as batch:
        batch.drop_column('register')
    op.drop_index('ix_alias_history_alias', table_name='alias_history')
    op.drop_table('alias_history')
    op.drop_table('aliases')
    op.drop_index(op.f('ix_model_versions_model_id'), table_name='model_versions')
    op.drop_table('model_versions')
    op.drop_index(op.f('ix_registered_models_tenant_id'), table_name='registered_models')
    op.drop_table('registered_models')
