"""Alembic environment: runs against the connection handed over by storage.migrate."""

from alembic import context

from storage.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `verp init` (storage.migrate), not bare alembic")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
