"""Whole-store operations of ``GeoPackageStore``: reset, metadata keys and history loading (copies between stores)."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import pandas as pd

from geo.storage import gpkg_layer
from geo.storage.base import HISTORY_COLUMNS
from geo.storage.schema.tables import VERSION_TABLE
from geo.storage.transfer import history_records


class GeoPackageAdmin:
    """Mixin: reset, ``meta_keys`` and ``load_history`` on the store's sqlite3 connection."""

    if TYPE_CHECKING:

        def _conn(self) -> sqlite3.Connection: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _init_system_tables(self) -> None: ...
        def _bump(self, conn: sqlite3.Connection, layer: str) -> str: ...
        def layers(self) -> list[str]: ...  # noqa: D102

    def reset(self, *, confirm: bool = False) -> None:
        """Drop every layer, the history, versions and metadata in one transaction, then start anew."""
        if not confirm:
            raise ValueError("reset drops every layer and the whole history: pass confirm=True")
        layers = self.layers()
        with self._write() as conn:
            for layer in layers:
                gpkg_layer.drop_layer(conn, layer, "geom")
            # Dropping the table (never deleting rows) keeps the append-only triggers meaningful.
            conn.execute("DROP TABLE IF EXISTS planmap_history")
            conn.execute("DROP TABLE IF EXISTS planmap_tokens")
            # Without a version table the migrations run again from the baseline, creating what was dropped.
            conn.execute(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
            conn.execute("DELETE FROM planmap_versions")
            conn.execute("DELETE FROM planmap_meta")
        self._init_system_tables()

    def meta_keys(self) -> list[str]:
        """Return the stored metadata keys, sorted."""
        return [r[0] for r in self._conn().execute("SELECT key FROM planmap_meta ORDER BY key")]

    def load_history(self, rows: pd.DataFrame) -> None:
        """Insert history rows with their ``seq`` (AUTOINCREMENT continues after the largest)."""
        if rows.empty:
            return
        names = ", ".join(HISTORY_COLUMNS)
        sql = f"INSERT INTO planmap_history ({names}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM planmap_history LIMIT 1").fetchone() is not None:
                raise ValueError("the target already holds progress history; reset it first")
            conn.executemany(sql, [[int(v) if isinstance(v, bool) else v for v in r] for r in history_records(rows)])
            for layer in sorted(set(rows["layer"])):
                self._bump(conn, layer)
