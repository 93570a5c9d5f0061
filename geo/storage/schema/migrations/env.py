"""Alembic environment: runs the planmap revisions on the connection that ``migrate.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

from geo.storage.schema.tables import VERSION_TABLE, metadata

config = context.config
if context.is_offline_mode():
    raise RuntimeError("planmap migrations run on a live connection only (no --sql mode)")
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("call geo.storage.schema.upgrade(connection, schema): it passes the connection in")
schema = config.attributes.get("schema")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    version_table_schema=schema,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations(schema=schema)
