"""A run's record in two parts: `config` holds what the run was told (it rebuilds the run), `details` what
it measured on the way (threads pinned, the teacher it read, the images it chose, an import's origin).

Existing rows are split by the rule of the code that wrote them, frozen in mnistbench/legacy.py (old
export bundles are read by the same rule).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from mnistbench.legacy import split_config  # the frozen rule of revision 0003's code

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
    runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("benchmark", sa.String),
                    sa.column("config", sa.JSON), sa.column("details", sa.JSON))
    connection = op.get_bind()
    for run_id, benchmark, config in connection.execute(sa.select(runs.c.id, runs.c.benchmark, runs.c.config)).all():
        told, measured = split_config(benchmark, config)
        connection.execute(runs.update().where(runs.c.id == run_id).values(config=told, details=measured))


def downgrade() -> None:
    runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("config", sa.JSON), sa.column("details", sa.JSON))
    connection = op.get_bind()
    for run_id, config, details in connection.execute(sa.select(runs.c.id, runs.c.config, runs.c.details)).all():
        if isinstance(config, dict) and isinstance(details, dict) and details:
            connection.execute(runs.update().where(runs.c.id == run_id).values(config={**details, **config}))
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("details")
