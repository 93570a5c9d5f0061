"""Editing single features of the PostGIS store: insert, replace and delete rows inside one transaction.

Each edit takes the layer's advisory lock (the one ``write_layer`` holds while it swaps a layer in), so
an edit and an import of the same layer never interleave, and refreshes what the store derives from the
rows: the recorded extent and the low-zoom tile overview.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import psycopg

import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import UnknownFeature
from geo.storage.base import check_new_feature, check_settable, check_version
from geo.storage.postgis import history as history_rows
from geo.storage.postgis import native
from geo.storage.postgis.database import Connection, Database
from geo.storage.sql import quote_ident as q
from geo.storage.sql.records import RecordSQL
from geo.storage.values import FeatureWrite, HistoryEntry, tombstone_kind

_ID = "id"
_EXTENT = "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM {table}) AS x"


def _lock(db: Database, conn: Connection, layer: str) -> dict[str, str]:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{db.schema}:{layer}"])
    return db.columns(conn, layer)


def _values(values: Mapping[str, Any], types: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    return [q(c) for c in values], [history_rows.to_pg(v, types[c]) for c, v in values.items()]


def _ewkb(geometry: BaseGeometry) -> bytes:
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), include_srid=True)


def _finish(db: Database, conn: Connection, entry: HistoryEntry) -> str:
    """Refresh the extent and overview, append the entry and bump the layer's version."""
    extent = conn.execute(_EXTENT.format(table=db.t(entry.layer))).fetchone()
    db.set_meta(conn, f"extent:{entry.layer}", None if extent is None or extent[0] is None else list(extent))
    native.build_overview(db, conn, entry.layer)
    history_rows.insert(db, conn, [entry])
    return db.bump(conn, entry.layer, geometry=True)


def create(db: Database, records: RecordSQL, write: FeatureWrite) -> str:
    """Insert a feature and its history entry in one transaction; refuse a taken or retired id."""
    entry = write.entry
    with db.conn(transaction=True) as conn:
        types = _lock(db, conn, entry.layer)
        check_settable(entry.layer, {k: v for k, v in write.values.items() if k != _ID}, types, _ID)
        taken = conn.execute(f"SELECT 1 FROM {db.t(entry.layer)} WHERE {q(_ID)} = %s", [entry.feature_id])
        archived = records.get(conn, tombstone_kind(entry.layer), entry.feature_id) is not None
        check_new_feature(entry.layer, entry.feature_id, taken.fetchone() is not None, archived)
        names, params = _values(write.values, types)
        marks = ", ".join(["%s"] * len(names))
        sql = f"INSERT INTO {db.t(entry.layer)} ({', '.join(names)}, geom) VALUES ({marks}, ST_GeomFromEWKB(%s))"
        try:
            conn.execute(sql, [*params, _ewkb(write.geometry)])
        except psycopg.DataError as exc:
            raise ValueError(f"a value cannot be stored in PostgreSQL: {exc}") from exc
        return _finish(db, conn, entry)


def _check_current(db: Database, conn: Connection, entry: HistoryEntry, expected: str) -> None:
    locked = conn.execute(f"SELECT 1 FROM {db.t(entry.layer)} WHERE {q(_ID)} = %s FOR UPDATE", [entry.feature_id])
    if locked.fetchone() is None:
        raise UnknownFeature(f"no feature {entry.feature_id!r} in collection {entry.layer!r}")
    check_version(entry, history_rows.feature_version_on(db, conn, entry.layer, entry.feature_id), expected)


def replace(db: Database, write: FeatureWrite, expected: str) -> str:
    """Check the feature's version, set its attributes and geometry and append the entry, atomically."""
    entry = write.entry
    with db.conn(transaction=True) as conn:
        types = _lock(db, conn, entry.layer)
        _check_current(db, conn, entry, expected)
        settable = {k: v for k, v in write.values.items() if k != _ID}
        check_settable(entry.layer, settable, types, _ID)
        names, params = _values(settable, types)
        assign = "".join(f"{n} = %s, " for n in names)  # none when only the geometry is written
        sql = f"UPDATE {db.t(entry.layer)} SET {assign}geom = ST_GeomFromEWKB(%s) WHERE {q(_ID)} = %s"
        try:
            conn.execute(sql, [*params, _ewkb(write.geometry), entry.feature_id])
        except psycopg.DataError as exc:
            raise ValueError(f"a value cannot be stored in PostgreSQL: {exc}") from exc
        return _finish(db, conn, entry)


def delete(db: Database, records: RecordSQL, entry: HistoryEntry, expected: str, archive: Mapping[str, Any]) -> str:
    """Check the version, archive the feature, delete its row and append the entry, atomically."""
    with db.conn(transaction=True) as conn:
        _lock(db, conn, entry.layer)
        _check_current(db, conn, entry, expected)
        records.put(
            conn, tombstone_kind(entry.layer), entry.feature_id, json.loads(json.dumps(archive)), None, entry.author
        )
        conn.execute(f"DELETE FROM {db.t(entry.layer)} WHERE {q(_ID)} = %s", [entry.feature_id])
        return _finish(db, conn, entry)
