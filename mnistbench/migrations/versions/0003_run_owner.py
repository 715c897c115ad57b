"""Runs record their owner: the database role that recorded them (PostgreSQL), else the OS user.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(100), nullable=True))
        batch.create_index("ix_runs_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_owner")
        batch.drop_column("owner")
