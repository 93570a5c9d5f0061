"""GeoPackageStore: the embedded default store, one .gpkg file that QGIS and ogrinfo open directly."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import geopandas as gpd
import pyogrio

from geo.errors import StaleVersion, StoreUnavailable, UnknownCollection, UnknownFeature
from geo.storage import candidates, gpkg_layer, sqlfilter
from geo.storage.base import HISTORY_COLUMNS, FeatureStore, Filter, HistoryEntry, SortKey, WriteMode
from geo.storage.codec import encode_frame, frame_from_rows, gpkg_blob_to_wkb, read_columns
from geo.storage.gpkg_admin import GeoPackageAdmin
from geo.storage.schema import migrate as schema
from geo.storage.schema.tokens import GeoPackageTokens
from geo.types import BBox

_GEOM = "geom"
_RESERVED_PREFIXES = ("planmap_", "gpkg_", "rtree_", "sqlite_")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _q(name: str) -> str:
    """Quote an SQL identifier (names are also checked against the schema before use)."""
    return '"' + name.replace('"', '""') + '"'


class GeoPackageStore(GeoPackageAdmin, GeoPackageTokens, FeatureStore):
    """A FeatureStore on one GeoPackage file.

    Feature tables are written by GDAL (through pyogrio) with R-tree spatial indexes; reads, history and
    progress updates go through sqlite3 (WAL mode, one connection per thread, writes serialised by a lock
    and ``BEGIN IMMEDIATE``). The history table is registered as a GeoPackage attributes table.

    Parameters
    ----------
    path : the .gpkg file; created (with the planmap system tables) when absent.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_empty_gpkg(self.path)
        self._init_system_tables()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open GeoPackage {self.path}: {exc}") from exc
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            # Reads of scattered rows (R-tree hits) are dominated by page fetches: map the file, cache more.
            conn.execute("PRAGMA mmap_size=536870912")
            conn.execute("PRAGMA cache_size=-32768")
            sqlfilter.register_functions(conn)
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _init_system_tables(self) -> None:
        """Bring the system tables to the head revision (``geo.storage.schema``) unless they are there."""
        if schema.geopackage_is_current(self._conn()) and self.get_meta("dataset_uid"):
            return  # already initialised: opening for reading must not write to the file
        schema.upgrade_geopackage(self.path)

    def close(self) -> None:
        """Close every connection this store opened."""
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

    def layers(self) -> list[str]:
        """Return the feature tables registered in gpkg_contents."""
        rows = self._conn().execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY table_name"
        )
        return [r[0] for r in rows]

    def _check_layer(self, layer: str) -> None:
        if layer not in self.layers():
            raise UnknownCollection(f"no collection {layer!r} in {self.path.name}")

    def write_layer(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        mode: WriteMode = "replace",
        types: Mapping[str, str] | None = None,
    ) -> None:
        """Write a layer (R-tree index, ``fid`` key, ``geom`` column), atomically replacing any old one.

        Table, unique id index, column types and version bump commit in one transaction.
        """
        if layer.lower().startswith(_RESERVED_PREFIXES):
            raise ValueError(f"layer names starting with {_RESERVED_PREFIXES} are reserved: {layer!r}")
        if mode == "create" and layer in self.layers():
            raise ValueError(f"collection {layer!r} exists already")
        encoded, column_types = encode_frame(frame, self.id_column, types)

        def finish(conn: sqlite3.Connection) -> None:
            conn.execute(f"CREATE UNIQUE INDEX {_q(layer + '_id')} ON {_q(layer)} ({_q(self.id_column)})")
            self._set_meta(conn, f"columns:{layer}", column_types)
            self._bump(conn, layer)

        staging = gpkg_layer.write_staging(encoded, layer, self.path.parent, _GEOM)
        try:
            conn = self._conn()
            with self._write_lock:
                gpkg_layer.copy_layer(conn, staging, layer, _GEOM, finish)
        finally:
            staging.unlink(missing_ok=True)

    def columns(self, layer: str) -> dict[str, str]:
        """Return the layer's attribute columns and planmap types (read from the file: other processes
        may have replaced the layer)."""
        types = self.get_meta(f"columns:{layer}")
        if types is None:
            self._check_layer(layer)
            return {}
        return dict(types)

    def read(
        self,
        layer: str,
        where: Filter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        sortby: Sequence[SortKey] = (),
        columns: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Return the matching features, using the R-tree for spatial conditions."""
        types = self.columns(layer)
        wanted = read_columns(columns, types, self.id_column)
        clause, params = sqlfilter.where_clause(layer, _GEOM, where, types)
        order = sqlfilter.order_clause(sortby, types)
        select = ", ".join(_q(c) for c in wanted)
        sql = f"SELECT {select}, {_q(_GEOM)} FROM {_q(layer)}{clause}{order} LIMIT ? OFFSET ?"
        rows = self._conn().execute(sql, [*params, -1 if limit is None else limit, offset]).fetchall()
        return frame_from_rows(rows, wanted, types, gpkg_blob_to_wkb)

    def read_tile_candidates(
        self,
        layer: str,
        bbox: BBox,
        *,
        where: Filter | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        cell: float | None = None,
    ) -> gpd.GeoDataFrame:
        """Choose the tile's rows on the R-tree in SQL, then read only those rows."""
        types = self.columns(layer)
        wanted = read_columns(columns, types, self.id_column)
        conn = self._conn()
        fids = candidates.gpkg_candidate_fids(conn, layer, _GEOM, bbox, where, types, cell, limit)
        return candidates.gpkg_rows_by_fid(conn, layer, _GEOM, fids, wanted, types)

    def count(self, layer: str, where: Filter | None = None) -> int:
        """Return the number of matching features (a bbox alone is counted on the R-tree)."""
        types = self.columns(layer)
        if where is not None and where.bbox is not None and where == Filter(bbox=where.bbox):
            sql, params = sqlfilter.bbox_count(layer, _GEOM, where.bbox)
        else:
            clause, params = sqlfilter.where_clause(layer, _GEOM, where, types)
            sql = f"SELECT count(*) FROM {_q(layer)}{clause}"
        return int(self._conn().execute(sql, params).fetchone()[0])

    def bounds(self, layer: str) -> BBox | None:
        """Return the extent from the layer's R-tree."""
        self._check_layer(layer)
        row = (
            self._conn()
            .execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {_q(f'rtree_{layer}_{_GEOM}')}")
            .fetchone()
        )
        return None if row[0] is None else (row[0], row[1], row[2], row[3])

    def history(
        self,
        layer: str | None = None,
        feature_ids: Sequence[str] | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """Return history rows, oldest first (by date, then by the order they were recorded)."""
        conds, params = sqlfilter.history_conditions(layer, feature_ids, until)
        sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM planmap_history{conds} ORDER BY date, seq"
        frame = pd.DataFrame(self._conn().execute(sql, params).fetchall(), columns=list(HISTORY_COLUMNS))
        frame["is_demo"] = frame["is_demo"].astype(bool)
        return frame

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append many entries in one transaction."""
        now = _now()
        rows = [e.to_row(now) for e in entries]
        if not rows:
            return
        names = list(rows[0])
        sql = f"INSERT INTO planmap_history ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        with self._write() as conn:
            conn.executemany(sql, [tuple(r[n] for n in names) for r in rows])
            for layer in sorted({e.layer for e in entries}):
                self._bump(conn, layer)

    def record_progress(
        self,
        entry: HistoryEntry,
        set_values: Mapping[str, Any],
        expected_version: str | None = None,
    ) -> str:
        """Append one report and update the feature's current state atomically."""
        types = self.columns(entry.layer)
        unknown = [c for c in set_values if c not in types or c == self.id_column]
        if unknown:
            raise ValueError(f"cannot set columns {unknown} of {entry.layer!r}")
        with self._write() as conn:
            found = conn.execute(
                f"SELECT 1 FROM {_q(entry.layer)} WHERE {_q(self.id_column)} = ?", (entry.feature_id,)
            ).fetchone()
            if found is None:
                raise UnknownFeature(f"no feature {entry.feature_id!r} in collection {entry.layer!r}")
            current = self._feature_version(conn, entry.layer, entry.feature_id)
            if expected_version is not None and expected_version != current:
                raise StaleVersion(
                    f"feature {entry.feature_id!r} changed: version is {current!r}, not {expected_version!r}"
                )
            if set_values:
                assign = ", ".join(f"{_q(c)} = ?" for c in set_values)
                values = [sqlfilter.to_sql_value(v, types[c]) for c, v in set_values.items()]
                conn.execute(
                    f"UPDATE {_q(entry.layer)} SET {assign} WHERE {_q(self.id_column)} = ?",
                    [*values, entry.feature_id],
                )
            row = entry.to_row(_now())
            conn.execute(
                f"INSERT INTO planmap_history ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            return self._bump(conn, entry.layer)

    def version(self, layer: str) -> str:
        """Return ``<dataset uid>.<write counter>`` for the layer."""
        row = self._conn().execute("SELECT version FROM planmap_versions WHERE layer = ?", (layer,)).fetchone()
        if row is None:
            self._check_layer(layer)
        return f"{self._uid()}.{0 if row is None else row[0]}"

    def feature_version(self, layer: str, feature_id: str) -> str:
        """Return ``<dataset uid>.<last history seq>`` for the feature."""
        return self._feature_version(self._conn(), layer, feature_id)

    def _feature_version(self, conn: sqlite3.Connection, layer: str, feature_id: str) -> str:
        row = conn.execute(
            "SELECT max(seq) FROM planmap_history WHERE layer = ? AND feature_id = ?", (layer, feature_id)
        ).fetchone()
        return f"{self._uid()}.f{row[0] or 0}"

    def _uid(self) -> str:
        return str(self.get_meta("dataset_uid"))

    def _bump(self, conn: sqlite3.Connection, layer: str) -> str:
        conn.execute(
            "INSERT INTO planmap_versions (layer, version) VALUES (?, 1) "
            "ON CONFLICT(layer) DO UPDATE SET version = version + 1",
            (layer,),
        )
        n = conn.execute("SELECT version FROM planmap_versions WHERE layer = ?", (layer,)).fetchone()[0]
        return f"{self._uid()}.{n}"

    def get_meta(self, key: str) -> Any:
        """Return the JSON value stored under ``key``, or None."""
        row = self._conn().execute("SELECT value FROM planmap_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key``."""
        with self._write() as conn:
            self._set_meta(conn, key, value)

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute(
            "INSERT INTO planmap_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )


def _create_empty_gpkg(path: Path) -> None:
    """Create a valid GeoPackage holding only the (empty) planmap_meta attributes table.

    GDAL writes the gpkg_* system tables and default spatial reference systems; the other planmap tables
    are added by the migrations in ``geo.storage.schema``.
    """
    empty = pd.DataFrame({"key": pd.Series([], dtype=str), "value": pd.Series([], dtype=str)})
    pyogrio.write_dataframe(empty, path, layer="planmap_meta", driver="GPKG")
