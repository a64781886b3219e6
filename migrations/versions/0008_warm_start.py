"""warm start: a job's init_from, a model's parent and final training state

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('training_jobs') as batch:
        batch.add_column(sa.Column('init_from', sa.JSON(), nullable=True))
    with op.batch_alter_table('models') as batch:
        batch.add_column(sa.Column('parent_model_id', sa.String(length=40), nullable=True))
        batch.create_index(batch.f('ix_models_parent_model_id'), ['parent_model_id'])
    op.create_table(
        'model_training_states',
        sa.Column('model_id', sa.String(length=40), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['model_id'], ['models.id'],
            name=op.f('fk_model_training_states_model_id_models'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('model_id', name=op.f('pk_model_training_states')),
    )


def downgrade() -> None:
    op.drop_table('model_training_states')
    with op.batch_alter_table('models') as batch:
        batch.drop_index(batch.f('ix_models_parent_model_id'))
        batch.drop_column('parent_model_id')
    with op.batch_alter_table('training_jobs') as batch:
        batch.drop_column('init_from')
