"""Initial schema: runs and their per-epoch history.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:22:05.905298

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('benchmark', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('test_accuracy', sa.Float(), nullable=True),
    sa.Column('val_accuracy', sa.Float(), nullable=True),
    sa.Column('params_total', sa.Integer(), nullable=True),
    sa.Column('params_trainable', sa.Integer(), nullable=True),
    sa.Column('labels_used', sa.Integer(), nullable=True),
    sa.Column('selection_labels_read', sa.Integer(), nullable=True),
    sa.Column('flags', sa.String(length=200), nullable=False),
    sa.Column('epochs_run', sa.Integer(), nullable=True),
    sa.Column('batch_size', sa.Integer(), nullable=True),
    sa.Column('seed', sa.Integer(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('train_seconds', sa.Float(), nullable=True),
    sa.Column('eval_seconds', sa.Float(), nullable=True),
    sa.Column('time_to_99', sa.Float(), nullable=True),
    sa.Column('epoch_to_99', sa.Integer(), nullable=True),
    sa.Column('time_to_995', sa.Float(), nullable=True),
    sa.Column('epoch_to_995', sa.Integer(), nullable=True),
    sa.Column('device', sa.String(length=200), nullable=True),
    sa.Column('python_version', sa.String(length=32), nullable=True),
    sa.Column('tf_version', sa.String(length=32), nullable=True),
    sa.Column('keras_version', sa.String(length=32), nullable=True),
    sa.Column('git_commit', sa.String(length=64), nullable=True),
    sa.Column('host', sa.String(length=200), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('model_path', sa.Text(), nullable=True),
    sa.Column('model_sha256', sa.String(length=64), nullable=True),
    sa.Column('verification', sa.String(length=16), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('sweep', sa.String(length=100), nullable=True),
    sa.Column('trial', sa.Integer(), nullable=True),
    sa.Column('members', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_benchmark'), ['benchmark'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_model'), ['model'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_sweep'), ['sweep'], unique=False)

    op.create_table('epochs',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('loss', sa.Float(), nullable=True),
    sa.Column('accuracy', sa.Float(), nullable=True),
    sa.Column('val_loss', sa.Float(), nullable=True),
    sa.Column('val_accuracy', sa.Float(), nullable=True),
    sa.Column('lr', sa.Float(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('images_per_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'epoch')
    )



def downgrade() -> None:
    """Downgrade schema."""

    op.drop_table('epochs')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_sweep'))
        batch_op.drop_index(batch_op.f('ix_runs_status'))
        batch_op.drop_index(batch_op.f('ix_runs_model'))
        batch_op.drop_index(batch_op.f('ix_runs_benchmark'))

    op.drop_table('runs')

