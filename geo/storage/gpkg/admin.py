"""Whole-file operations of the GeoPackage store: reset, metadata keys and history loading (store copies)."""

from __future__ import annotations

import pandas as pd

from geo.storage.gpkg import layer as gpkg_layer
from geo.storage.gpkg.database import Database
from geo.storage.schema.tables import VERSION_TABLE, metadata
from geo.storage.transfer import history_records
from geo.storage.values import HISTORY_COLUMNS

_KEPT = ("planmap_versions", "planmap_meta")
"""System tables GDAL made as GeoPackage attributes tables: emptied, not dropped."""


def reset(db: Database, layers: list[str], geom_col: str) -> None:
    """Drop every layer, the history, versions and metadata in one transaction, then start anew."""
    with db.write() as conn:
        for layer in layers:
            gpkg_layer.drop_layer(conn, layer, geom_col)
        # Dropping the table (never deleting rows) keeps the append-only triggers meaningful.
        for table in metadata.tables:
            if table not in _KEPT:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
        # Without a version table the migrations run again from the baseline, creating what was dropped.
        conn.execute(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
        conn.execute("DELETE FROM planmap_versions")
        conn.execute("DELETE FROM planmap_meta")
    db.init_system_tables()


def meta_keys(db: Database) -> list[str]:
    """Return the stored metadata keys, sorted."""
    with db.reading() as conn:
        return [r[0] for r in conn.execute("SELECT key FROM planmap_meta ORDER BY key")]


def load_history(db: Database, rows: pd.DataFrame) -> None:
    """Insert history rows with their ``seq`` (AUTOINCREMENT continues after the largest)."""
    if rows.empty:
        return
    names = ", ".join(HISTORY_COLUMNS)
    sql = f"INSERT INTO planmap_history ({names}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM planmap_history LIMIT 1").fetchone() is not None:
            raise ValueError("the target already holds progress history; reset it first")
        conn.executemany(sql, [[int(v) if isinstance(v, bool) else v for v in r] for r in history_records(rows)])
        for layer in sorted(set(rows["layer"])):
            db.bump(conn, layer)
