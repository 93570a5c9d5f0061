"""Each layer counts its geometry writes apart from its writes: caches of shapes outlive progress reports.

A field report changes a feature's attributes and history, never its geometry, yet it bumps the layer's data
version; what is derived from the geometry alone (the low-zoom envelopes a worker holds in memory) follows
``geometry_version`` instead, which only layer writes and feature creates, replaces and deletes count.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo.storage.schema.tables import Counter

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade(schema: str | None = None) -> None:
    """Add ``planmap_versions.geometry_version`` (0 for every layer already there).

    A GeoPackage reset keeps ``planmap_versions`` (GDAL registered it) and runs the revisions again: the
    column may be there already.
    """
    columns = sa.inspect(op.get_bind()).get_columns("planmap_versions", schema=schema)
    if any(c["name"] == "geometry_version" for c in columns):
        return
    op.add_column(
        "planmap_versions",
        sa.Column("geometry_version", Counter, nullable=False, server_default="0"),
        schema=schema,
    )


def downgrade(schema: str | None = None) -> None:
    """Drop the column (the data versions stay)."""
    with op.batch_alter_table("planmap_versions", schema=schema) as batch:
        batch.drop_column("geometry_version")
