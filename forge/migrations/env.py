"""Alembic environment: runs migrations on the connection forge hands over."""

from alembic import context

from forge import models  # noqa: F401  (registers every table on the metadata)
from forge.db import Base

connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
