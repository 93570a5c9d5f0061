"""Documents edited in planmap (plans, their targets and county quotas) get a table and an append-only revision log.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo.storage.schema.tables import Counter, JsonText, Key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_APPEND_ONLY = "planmap_record_revisions is append-only"
_SQLITE_TRIGGERS = {
    "planmap_record_revisions_no_update": "BEFORE UPDATE",
    "planmap_record_revisions_no_delete": "BEFORE DELETE",
}


def upgrade(schema: str | None = None) -> None:
    """Create ``planmap_records`` and ``planmap_record_revisions`` (whose rows are never changed)."""
    op.create_table(
        "planmap_records",
        sa.Column("kind", Key, primary_key=True),
        sa.Column("key", Key, primary_key=True),
        sa.Column("version", Counter, nullable=False),
        sa.Column("doc", JsonText, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        schema=schema,
    )
    op.create_table(
        "planmap_record_revisions",
        sa.Column("seq", Counter, primary_key=True, autoincrement=True),
        sa.Column("kind", Key, nullable=False),
        sa.Column("key", Key, nullable=False),
        sa.Column("version", Counter, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("doc", JsonText),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
        schema=schema,
    )
    op.create_index(
        "planmap_record_revisions_key", "planmap_record_revisions", ["kind", "key", "version"], schema=schema
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, when in _SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} ON planmap_record_revisions "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
        if sa.inspect(op.get_bind()).has_table("gpkg_contents"):
            op.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                "VALUES ('planmap_record_revisions', 'attributes', 'planmap_record_revisions', "
                "'every version of the plans edited in planmap', strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
            )
    else:
        s = op.get_bind().dialect.identifier_preparer.quote_schema(schema or "public")
        op.execute(
            "CREATE TRIGGER planmap_record_revisions_no_change BEFORE UPDATE OR DELETE "
            f"ON {s}.planmap_record_revisions FOR EACH ROW EXECUTE FUNCTION {s}.planmap_append_only()"
        )


def downgrade(schema: str | None = None) -> None:
    """Drop both tables (the documents and their revisions go with them)."""
    if op.get_bind().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        if sa.inspect(op.get_bind()).has_table("gpkg_contents"):
            op.execute("DELETE FROM gpkg_contents WHERE table_name = 'planmap_record_revisions'")
    op.drop_index("planmap_record_revisions_key", "planmap_record_revisions", schema=schema)
    op.drop_table("planmap_record_revisions", schema=schema)
    op.drop_table("planmap_records", schema=schema)
