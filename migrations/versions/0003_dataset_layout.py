"""dataset layout: tables, sequences and time series

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('datasets') as batch:
        batch.add_column(
            sa.Column('layout', sa.String(length=10), server_default='table', nullable=False)
        )
        batch.add_column(sa.Column('layout_info', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets') as batch:
        batch.drop_column('layout_info')
        batch.drop_column('layout')
