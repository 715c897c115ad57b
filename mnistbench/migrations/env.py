"""Alembic environment: migrations run on the connection the store hands over (no alembic.ini)."""

from alembic import context

from mnistbench.store import VERSION_TABLE, Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
