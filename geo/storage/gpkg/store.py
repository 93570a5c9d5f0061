"""GeoPackageStore: the embedded default store, one .gpkg file that QGIS and ogrinfo open directly."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd

from geo.errors import UnknownCollection, UnknownFeature
from geo.spatial_index import search_box
from geo.storage.base import FeatureStore, check_layer_version, check_settable, check_version
from geo.storage.codec import (
    STORE_CRS,
    frame_from_rows,
    gpkg_blob_to_wkb,
    prepare_layer,
    read_columns,
    records_from_rows,
)
from geo.storage.generic import mvt_layer_from_arrays
from geo.storage.gpkg import admin, edits, tiles
from geo.storage.gpkg import layer as gpkg_layer
from geo.storage.gpkg import tokens as token_rows
from geo.storage.gpkg.database import Database, now_iso
from geo.storage.gpkg.dialect import SQLITE, bbox_count, to_sql_value
from geo.storage.gpkg.nearest import NearestIndexes, nearest_fids, nearest_in_window
from geo.storage.gpkg.thinning import LayerEnvelopes, read_envelopes
from geo.storage.sql import quote_ident as q
from geo.storage.sql import render_where
from geo.storage.sql.accounts import AccountSQL, AccountVerbs
from geo.storage.sql.records import RecordSQL
from geo.storage.sql.replies import ReplySQL
from geo.storage.values import (
    APPROVED_ON,
    HISTORY_COLUMNS,
    FeatureWrite,
    Filter,
    Health,
    HistoryEntry,
    MvtTile,
    RecordPut,
    RecordRevision,
    ReportKey,
    SortKey,
    StoredRecord,
    StoredReply,
    StoredToken,
    WriteMode,
    tombstone_kind,
)
from geo.types import BBox

_GEOM = "geom"
_RESERVED_PREFIXES = ("planmap_", "gpkg_", "rtree_", "sqlite_")


class GeoPackageStore(AccountVerbs, FeatureStore):
    """A FeatureStore on one GeoPackage file.

    Feature tables are written by GDAL (through pyogrio) with R-tree spatial indexes; reads, history and
    progress updates go through sqlite3 (see ``geo.storage.gpkg.database``). The history table is
    registered as a GeoPackage attributes table.

    Parameters
    ----------
    path : the .gpkg file; created (with the planmap system tables) when absent.
    """

    local_reads = True  # WAL readers never wait on writers

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        self._accounts = AccountSQL("", "?")
        self._records = RecordSQL("", "?")
        self._replies = ReplySQL("", "?")
        self.path = self._db.path
        self._nearest = NearestIndexes(self.version, lambda layer, columns: self.read(layer, columns=columns))
        self._envelopes = LayerEnvelopes(self.geometry_version, self._size_bound, self._read_envelopes)

    def close(self) -> None:
        """Close every connection this store opened and drop its indexes."""
        self._nearest.clear()
        self._envelopes.close()
        self._db.close()

    def layers(self) -> list[str]:
        """Return the feature tables registered in gpkg_contents."""
        with self._db.reading() as conn:
            rows = conn.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY table_name")
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
        *,
        expected_version: str | None = None,
        history: Sequence[HistoryEntry] = (),
    ) -> None:
        """Write a layer (R-tree index, ``fid`` key, ``geom`` column), atomically replacing any old one.

        Table, unique id index, column types, history entries and version bump commit in one transaction.
        """
        if layer.lower().startswith(_RESERVED_PREFIXES):
            raise ValueError(f"layer names starting with {_RESERVED_PREFIXES} are reserved: {layer!r}")
        if mode == "create" and layer in self.layers():
            raise ValueError(f"collection {layer!r} exists already")
        encoded = prepare_layer(frame, self.id_column, types)
        column_types = encoded.types

        def check(conn: Any) -> None:
            if expected_version is not None:
                row = conn.execute("SELECT version FROM planmap_versions WHERE layer = ?", (layer,)).fetchone()
                check_layer_version(layer, f"{self._db.uid()}.{0 if row is None else row[0]}", expected_version)

        def finish(conn: Any) -> None:
            conn.execute(f"CREATE UNIQUE INDEX {q(layer + '_id')} ON {q(layer)} ({q(self.id_column)})")
            self._db.set_meta(conn, f"columns:{layer}", column_types)
            self._insert_history(conn, history)
            self._db.bump(conn, layer, geometry=True)

        kind = gpkg_layer.layer_geometry_type(encoded.frame.geometry)
        staging = gpkg_layer.write_staging(encoded.slices(), layer, self.path.parent, _GEOM, kind)
        try:
            with self._db.locked() as conn:
                gpkg_layer.copy_layer(conn, staging, layer, _GEOM, finish, self._db.check_file, check)
        finally:
            gpkg_layer.remove_staging(staging)

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
        rows, wanted, types = self._rows(layer, where, limit, offset, sortby, columns)
        return frame_from_rows(rows, wanted, types, gpkg_blob_to_wkb)

    def read_records(
        self,
        layer: str,
        where: Filter | None = None,
        *,
        limit: int | None = None,
        sortby: Sequence[SortKey] = (),
        columns: Sequence[str] | None = None,
    ) -> tuple[pd.DataFrame, list[bytes | None]]:
        """Return the matching features as typed attribute columns and WKB geometries, none parsed."""
        rows, wanted, types = self._rows(layer, where, limit, 0, sortby, columns)
        return records_from_rows(rows, wanted, types, gpkg_blob_to_wkb)

    def _rows(
        self,
        layer: str,
        where: Filter | None,
        limit: int | None,
        offset: int,
        sortby: Sequence[SortKey],
        columns: Sequence[str] | None,
    ) -> tuple[list[Any], list[str], dict[str, str]]:
        types = self.columns(layer)
        wanted = read_columns(columns, types, self.id_column)
        p = SQLITE.params()
        cond = render_where(where, types, dialect=SQLITE, params=p, layer=layer, geom_col=_GEOM)
        clause = f" WHERE {cond}" if cond else ""
        page = f"LIMIT {p.named('limit', -1 if limit is None else limit)}"
        if offset:  # keyset paging (exports) never skips rows
            page += f" OFFSET {p.named('offset', offset)}"
        select = ", ".join(q(c) for c in wanted)
        sql = f"SELECT {select}, {q(_GEOM)} FROM {q(layer)}{clause}{SQLITE.order_by(sortby, types)} {page}"
        with self._db.reading() as conn:
            rows = conn.execute(sql, p.values).fetchall()
        return rows, wanted, types

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
        with self._db.reading() as conn:
            fids = self._candidate_fids(conn, layer, bbox, where, types, cell, limit)
            return tiles.gpkg_rows_by_fid(conn, layer, _GEOM, fids, wanted, types)

    def mvt_layer(self, layer: str, tile: MvtTile, where: Filter | None = None) -> tuple[bytes, int]:
        """Choose the tile's rows on the R-tree in SQL, read them as arrays and encode them (no data frame)."""
        types = self.columns(layer)
        names = [c for c in tile.properties if c in types or c == self.id_column]
        with self._db.reading() as conn:
            fids = self._candidate_fids(conn, layer, tile.bbox, where, types, tile.cell, tile.limit)
            geoms, columns = tiles.gpkg_tile_arrays(conn, layer, _GEOM, fids, names, types)
        return mvt_layer_from_arrays(geoms, columns, tile)

    def _candidate_fids(
        self,
        conn: sqlite3.Connection,
        layer: str,
        bbox: BBox,
        where: Filter | None,
        types: dict[str, str],
        cell: float | None,
        limit: int | None,
    ) -> list[int]:
        """Choose a tile's feature ids: a wide box without conditions from the envelopes in memory, else in SQL."""
        plain = where is None or (not where.equals and where.cql is None and where.ids is None and not where.intersects)
        if plain and cell:
            fids = self._envelopes.candidate_fids(layer, bbox, cell, limit)
            if fids is not None:
                return fids
        return tiles.gpkg_candidate_fids(conn, layer, _GEOM, bbox, where, types, cell, limit)

    def nearest(
        self,
        layer: str,
        lon: float,
        lat: float,
        radius_m: float,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame:
        """Measure from the layer's in-memory geodesic index (built once per data version); layers too large
        for one are read through the R-tree in the search box and measured per query (bounded memory)."""
        if self._nearest.indexed(layer, lambda: self._size_bound(layer)):
            return self._nearest.nearest(layer, lon, lat, radius_m, limit, columns, geometry)
        types = self.columns(layer)
        wanted = read_columns(columns, types, self.id_column)
        with self._db.reading() as conn:
            ids, envelopes = tiles.gpkg_envelopes(conn, layer, _GEOM, search_box(lon, lat, radius_m))

            def read_geoms(some: np.ndarray) -> np.ndarray:
                return tiles.gpkg_tile_arrays(conn, layer, _GEOM, some.tolist(), [], types)[0]

            fids = nearest_fids(ids, envelopes, (lon, lat), radius_m, limit, read_geoms).tolist()
            geoms, arrays = tiles.gpkg_tile_arrays(conn, layer, _GEOM, fids, wanted, types)
        return nearest_in_window(geoms, arrays, STORE_CRS, (lon, lat), radius_m, limit, geometry)

    def _read_envelopes(self, layer: str) -> np.ndarray:
        """Return the layer's R-tree rows (id and envelope) as an array."""
        with self._db.reading() as conn:
            return read_envelopes(conn, layer, _GEOM)

    def _size_bound(self, layer: str) -> int:
        """Return the layer's largest fid: at least its feature count, read from the B-tree at once (count(*)
        reads every page)."""
        self._check_layer(layer)
        with self._db.reading() as conn:
            return int(conn.execute(f"SELECT coalesce(max(fid), 0) FROM {q(layer)}").fetchone()[0])

    def count(self, layer: str, where: Filter | None = None) -> int:
        """Return the number of matching features (a bbox alone is counted on the R-tree)."""
        types = self.columns(layer)
        p = SQLITE.params()
        if where is not None and where.bbox is not None and where == Filter(bbox=where.bbox):
            sql = bbox_count(layer, _GEOM, where.bbox, p)
        else:
            cond = render_where(where, types, dialect=SQLITE, params=p, layer=layer, geom_col=_GEOM)
            sql = f"SELECT count(*) FROM {q(layer)}" + (f" WHERE {cond}" if cond else "")
        with self._db.reading() as conn:
            return int(conn.execute(sql, p.values).fetchone()[0])

    def bounds(self, layer: str) -> BBox | None:
        """Return the extent from the layer's R-tree."""
        self._check_layer(layer)
        sql = f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {q(f'rtree_{layer}_{_GEOM}')}"
        with self._db.reading() as conn:
            row = conn.execute(sql).fetchone()
        return None if row[0] is None else (row[0], row[1], row[2], row[3])

    def history(
        self,
        layer: str | None = None,
        feature_ids: Sequence[str] | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """Return history rows, oldest first (by date, then by the order they were recorded)."""
        parts, params = _history_conditions(layer, feature_ids, until)
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM planmap_history{where} ORDER BY date, seq"
        with self._db.reading() as conn:
            frame = pd.DataFrame(conn.execute(sql, params).fetchall(), columns=list(HISTORY_COLUMNS))
        frame["is_demo"] = frame["is_demo"].astype(bool)
        return frame

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append many entries in one transaction."""
        if not entries:
            return
        with self._db.write() as conn:
            self._insert_history(conn, entries)
            for layer in sorted({e.layer for e in entries}):
                self._db.bump(conn, layer)

    @staticmethod
    def _insert_history(conn: Any, entries: Sequence[HistoryEntry]) -> None:
        if not entries:
            return
        now = now_iso()
        names = list(entries[0].to_row(now))
        sql = f"INSERT INTO planmap_history ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        # a generator: an import's half a million entries are not held as rows all at once
        conn.executemany(sql, (tuple(e.to_row(now)[n] for n in names) for e in entries))

    def record_progress(
        self,
        entry: HistoryEntry,
        set_values: Mapping[str, Any],
        expected_version: str | None = None,
        key: ReportKey | None = None,
        record: RecordPut | None = None,
    ) -> str:
        """Append one report (and its idempotency key), update the feature's state and write ``record``, atomically."""
        types = self.columns(entry.layer)
        check_settable(entry.layer, set_values, types, self.id_column)
        table, id_col = q(entry.layer), q(self.id_column)
        with self._db.write() as conn:
            if conn.execute(f"SELECT 1 FROM {table} WHERE {id_col} = ?", (entry.feature_id,)).fetchone() is None:
                raise UnknownFeature(f"no feature {entry.feature_id!r} in collection {entry.layer!r}")
            self._replies.refuse_used(conn, entry.layer, key)
            check_version(entry, self._db.feature_version(conn, entry.layer, entry.feature_id), expected_version)
            if set_values:
                assign = ", ".join(f"{q(c)} = ?" for c in set_values)
                values = [to_sql_value(v, types[c]) for c, v in set_values.items()]
                conn.execute(f"UPDATE {table} SET {assign} WHERE {id_col} = ?", [*values, entry.feature_id])
            row = entry.to_row(now_iso())
            inserted = conn.execute(
                f"INSERT INTO planmap_history ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            if key is not None:
                self._replies.insert(conn, entry.layer, entry.feature_id, int(inserted.lastrowid or 0), key)
            if record is not None:
                self._records.put(conn, record.kind, record.key, record.doc, record.expected_version, record.author)
            return self._db.bump(conn, entry.layer)

    def create_feature(self, write: FeatureWrite) -> str:
        """Insert the feature and its history entry in one transaction (R-tree and extent follow)."""
        entry, types = write.entry, self.columns(write.entry.layer)
        check_settable(
            entry.layer, {k: v for k, v in write.values.items() if k != self.id_column}, types, self.id_column
        )
        with self._db.write() as conn:
            archived = self._records.get(conn, tombstone_kind(entry.layer), entry.feature_id) is not None
            edits.insert(conn, entry.layer, self.id_column, write.values, write.geometry, types, archived)
            self._insert_history(conn, [entry])
            return self._db.bump(conn, entry.layer, geometry=True)

    def replace_feature(self, write: FeatureWrite, expected_version: str) -> str:
        """Check the feature's version, set its attributes and geometry and append the entry, atomically."""
        entry, types = write.entry, self.columns(write.entry.layer)
        with self._db.write() as conn:
            current = self._db.feature_version(conn, entry.layer, entry.feature_id)
            edits.check_current(conn, entry, self.id_column, current, expected_version)
            edits.replace(conn, entry, self.id_column, write.values, write.geometry, types)
            self._insert_history(conn, [entry])
            return self._db.bump(conn, entry.layer, geometry=True)

    def delete_feature(self, entry: HistoryEntry, expected_version: str, archive: Mapping[str, Any]) -> str:
        """Check the version, archive the feature, delete its row and append the entry, atomically."""
        with self._db.write() as conn:
            current = self._db.feature_version(conn, entry.layer, entry.feature_id)
            edits.check_current(conn, entry, self.id_column, current, expected_version)
            self._records.put(conn, tombstone_kind(entry.layer), entry.feature_id, archive, None, entry.author)
            edits.delete(conn, entry, self.id_column)
            self._insert_history(conn, [entry])
            return self._db.bump(conn, entry.layer, geometry=True)

    def report_reply(self, layer: str, key: str) -> StoredReply | None:
        """Return the report recorded under ``key`` in ``layer``, or None."""
        with self._db.reading() as conn:
            return self._replies.get(conn, layer, key)

    def save_reply(self, layer: str, key: str, response: Mapping[str, Any]) -> StoredReply:
        """Keep the first answer to ``key``; return the kept one."""
        with self._db.write() as conn:
            return self._replies.save_response(conn, layer, key, response)

    def version(self, layer: str) -> str:
        """Return ``<dataset uid>.<write counter>`` for the layer."""
        return self._counter(layer, "version", "")

    def geometry_version(self, layer: str) -> str:
        """Return ``<dataset uid>.g<geometry write counter>``: it changes when the layer's geometry may have
        changed (a layer write, a feature created, replaced or deleted), not with progress reports."""
        return self._counter(layer, "geometry_version", "g")

    def _counter(self, layer: str, column: str, prefix: str) -> str:
        uid, count = self._db.counter(layer, column)
        if count is None:
            self._check_layer(layer)
        return f"{uid}.{prefix}{0 if count is None else count}"

    def feature_version(self, layer: str, feature_id: str) -> str:
        """Return ``<dataset uid>.f<last history seq>`` for the feature."""
        with self._db.reading() as conn:
            return self._db.feature_version(conn, layer, feature_id)

    def get_meta(self, key: str) -> Any:
        """Return the JSON value stored under ``key``, or None."""
        return self._db.get_meta(key)

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key``."""
        with self._db.write() as conn:
            self._db.set_meta(conn, key, value)

    def health(self) -> Health:
        """Check the file is the one opened, complete, and writable now (permissions, disk space, locks)."""
        return self._db.health()

    def add_token(self, token: StoredToken) -> None:
        """Store ``token`` as its user's live token, revoking the one the user had, in one transaction."""
        token_rows.add_token(self._db, token)

    def revoke_tokens(self, user: str) -> int:
        """Revoke ``user``'s live tokens; return how many there were."""
        return token_rows.revoke_tokens(self._db, user)

    def tokens(self, include_revoked: bool = False) -> list[StoredToken]:
        """Return the live tokens (all with ``include_revoked``), by user and creation time."""
        return token_rows.tokens(self._db, include_revoked)

    def token_by_hash(self, sha256: str) -> StoredToken | None:
        """Return the live token with this SHA-256, or None."""
        return token_rows.token_by_hash(self._db, sha256)

    def reset(self, *, confirm: bool = False) -> None:
        """Drop every layer, the history, versions and metadata in one transaction, then start anew."""
        if not confirm:
            raise ValueError("reset drops every layer and the whole history: pass confirm=True")
        admin.reset(self._db, self.layers(), _GEOM)

    def meta_keys(self) -> list[str]:
        """Return the stored metadata keys, sorted."""
        return admin.meta_keys(self._db)

    def load_history(self, rows: pd.DataFrame) -> None:
        """Insert history rows with their ``seq`` (AUTOINCREMENT continues after the largest)."""
        admin.load_history(self._db, rows)

    def _account_reading(self) -> AbstractContextManager[Any]:
        return self._db.reading()

    def _account_writing(self) -> AbstractContextManager[Any]:
        return self._db.write()

    def record(self, kind: str, key: str) -> StoredRecord | None:
        """Return the live document ``kind``/``key``, or None."""
        with self._db.reading() as conn:
            return self._records.get(conn, kind, key)

    def records(self, kind: str) -> list[StoredRecord]:
        """Return the live documents of ``kind``, by key."""
        with self._db.reading() as conn:
            return self._records.all(conn, kind)

    def put_record(
        self, kind: str, key: str, doc: Mapping[str, Any], *, expected_version: int | None, author: str
    ) -> StoredRecord:
        """Create or change a document and log its revision, in one transaction."""
        with self._db.write() as conn:
            return self._records.put(conn, kind, key, doc, expected_version, author)

    def delete_record(self, kind: str, key: str, *, expected_version: int, author: str) -> None:
        """Delete the document at ``expected_version`` and log it, in one transaction."""
        with self._db.write() as conn:
            self._records.delete(conn, kind, key, expected_version, author)

    def record_revisions(self, kind: str | None, key: str | None = None) -> list[RecordRevision]:
        """Return the revisions of a document (of every document of ``kind``), oldest first."""
        with self._db.reading() as conn:
            return self._records.revisions(conn, kind, key)


def _history_conditions(
    layer: str | None, feature_ids: Sequence[str] | None, until: date | None
) -> tuple[list[str], list[Any]]:
    """Return the conditions of a history query and their parameters."""
    parts: list[str] = []
    params: list[Any] = []
    if layer is not None:
        parts.append("layer = ?")
        params.append(layer)
    if feature_ids is not None:
        parts.append(f"feature_id IN ({', '.join('?' * len(feature_ids))})" if feature_ids else "0")
        params.extend(feature_ids)
    if until is not None:
        parts.append("date <= ?")
        parts.append(f"(data IS NULL OR coalesce(json_extract(data, '$.{APPROVED_ON}'), '') <= ?)")
        params.extend([until.isoformat(), until.isoformat()])
    return parts, params
