"""Progress reports keep their ``Idempotency-Key``: one row per key and layer, written with the history entry.

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo.storage.schema.tables import Counter, JsonText, Key

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade(schema: str | None = None) -> None:
    """Create ``planmap_idempotency`` (request fingerprint, report seq and the first answer of each key)."""
    op.create_table(
        "planmap_idempotency",
        sa.Column("layer", Key, primary_key=True),
        sa.Column("key", Key, primary_key=True),
        sa.Column("feature_id", Key, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("seq", Counter, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("response", JsonText),
        schema=schema,
    )
    if op.get_bind().dialect.name == "sqlite" and sa.inspect(op.get_bind()).has_table("gpkg_contents"):
        op.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
            "VALUES ('planmap_idempotency', 'attributes', 'planmap_idempotency', "
            "'idempotency keys of progress reports', strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
        )


def downgrade(schema: str | None = None) -> None:
    """Drop the table (the reports stay in the history; only their keys go)."""
    if op.get_bind().dialect.name == "sqlite" and sa.inspect(op.get_bind()).has_table("gpkg_contents"):
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'planmap_idempotency'")
    op.drop_table("planmap_idempotency", schema=schema)
