"""Baseline: the progress history, layer versions and metadata, as planmap made them before Alembic.

It creates only what a database lacks, so a GeoPackage or PostgreSQL schema made by earlier planmap code
(which kept its own DDL list, and on PostgreSQL a ``planmap_migrations`` table) is taken over as it is, data
and all. The history is append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo.storage.schema.tables import Counter, Flag, IsoDate, JsonText, Key, Real

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY = "planmap_history is append-only"
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS planmap_history_no_update BEFORE UPDATE ON planmap_history
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS planmap_history_no_delete BEFORE DELETE ON planmap_history
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
)
_PG_FUNCTION = f"""CREATE OR REPLACE FUNCTION {{s}}.planmap_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"""
_PG_TRIGGERS = {
    "planmap_history_no_change": "BEFORE UPDATE OR DELETE ON {s}.planmap_history FOR EACH ROW",
    "planmap_history_no_truncate": "BEFORE TRUNCATE ON {s}.planmap_history FOR EACH STATEMENT",
}
_CONTENTS = """INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change)
    VALUES (:name, 'attributes', :name, :description, strftime('%Y-%m-%dT%H:%M:%fZ','now'))"""
_REGISTERED = {
    "planmap_history": "append-only progress history",
    "planmap_versions": "data version per layer",
    "planmap_meta": "",
}


def upgrade(schema: str | None = None) -> None:
    """Create the tables, indexes and triggers a database lacks."""
    inspector = sa.inspect(op.get_bind())
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not inspector.has_table("planmap_history", schema=schema):
        _create_history(schema)
    if not inspector.has_table("planmap_versions", schema=schema):
        op.create_table(
            "planmap_versions",
            sa.Column("layer", Key, primary_key=True),
            sa.Column("version", Counter, nullable=False),
            schema=schema,
        )
    if not inspector.has_table("planmap_meta", schema=schema):
        _create_meta(sqlite, schema)
    op.create_index(
        "planmap_history_feature", "planmap_history", ["layer", "feature_id", "date"], schema=schema, if_not_exists=True
    )
    op.create_index("planmap_history_date", "planmap_history", ["layer", "date"], schema=schema, if_not_exists=True)
    if sqlite:
        # GDAL's planmap_meta has no unique key of its own; upserts by key need one.
        op.create_index("planmap_meta_key", "planmap_meta", ["key"], unique=True, if_not_exists=True)
        _sqlite_append_only()
        _register_in_geopackage(_REGISTERED)
    else:
        _postgres_append_only(schema)


def downgrade(schema: str | None = None) -> None:
    """Refuse: below the baseline there is no planmap schema, and the history is never dropped by a migration."""
    raise NotImplementedError("the baseline holds the append-only history and cannot be downgraded")


def _create_history(schema: str | None) -> None:
    op.create_table(
        "planmap_history",
        sa.Column("seq", Counter, primary_key=True, autoincrement=True),
        sa.Column("layer", Key, nullable=False),
        sa.Column("feature_id", Key, nullable=False),
        sa.Column("date", IsoDate, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("percent", Real),
        sa.Column("note", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sa.Column("data", JsonText),
        sa.Column("is_demo", Flag, nullable=False, server_default=sa.false()),
        sqlite_autoincrement=True,
        schema=schema,
    )


def _create_meta(sqlite: bool, schema: str | None) -> None:
    if sqlite:
        # A GeoPackage attributes table needs an integer key; GDAL makes it so when it creates the file.
        op.create_table(
            "planmap_meta",
            sa.Column("fid", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("key", sa.Text, nullable=False),
            sa.Column("value", sa.Text, nullable=False),
            sqlite_autoincrement=True,
        )
        return
    op.create_table(
        "planmap_meta",
        sa.Column("key", Key, primary_key=True),
        sa.Column("value", JsonText, nullable=False),
        schema=schema,
    )


def _sqlite_append_only() -> None:
    for ddl in _SQLITE_TRIGGERS:
        op.execute(ddl)


def _postgres_append_only(schema: str | None) -> None:
    s = op.get_bind().dialect.identifier_preparer.quote_schema(schema or "public")
    op.execute(_PG_FUNCTION.format(s=s))
    found = op.get_bind().execute(
        sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:table)"),
        {"table": f"{s}.planmap_history"},
    )
    present = {row[0] for row in found}
    for name, when in _PG_TRIGGERS.items():
        if name not in present:
            op.execute(f"CREATE TRIGGER {name} {when.format(s=s)} EXECUTE FUNCTION {s}.planmap_append_only()")


def _register_in_geopackage(tables: dict[str, str]) -> None:
    """List attribute tables in ``gpkg_contents`` so GDAL and QGIS show them (a plain SQLite file has none)."""
    if not sa.inspect(op.get_bind()).has_table("gpkg_contents"):
        return
    for name, description in tables.items():
        op.get_bind().execute(sa.text(_CONTENTS), {"name": name, "description": description})
