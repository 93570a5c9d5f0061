"""Editing single features of a live GeoPackage: insert, replace and delete rows inside one write transaction.

GDAL's R-tree triggers keep the spatial index in step with each row (their ``ST_*`` functions are
registered on every connection, see ``geo.storage.gpkg.functions``); the layer's extent in
``gpkg_contents`` is recomputed from the R-tree after every edit, as the GeoPackage spec asks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from shapely.geometry.base import BaseGeometry

from geo.errors import UnknownFeature
from geo.storage.base import check_new_feature, check_settable, check_version
from geo.storage.codec import wkb_to_gpkg_blob
from geo.storage.gpkg.dialect import to_sql_value
from geo.storage.sql import quote_ident as q
from geo.storage.values import HistoryEntry


def srs_id(conn: sqlite3.Connection, layer: str) -> int:
    """Return the SRS id the layer's geometry column is declared with (4326 for planmap's layers)."""
    row = conn.execute(
        "SELECT srs_id FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (layer,)
    ).fetchone()
    return 4326 if row is None else int(row[0])


def exists(conn: sqlite3.Connection, layer: str, id_column: str, feature_id: str) -> bool:
    """Return whether the layer holds a row with this id."""
    sql = f"SELECT 1 FROM {q(layer)} WHERE {q(id_column)} = ?"
    return conn.execute(sql, (feature_id,)).fetchone() is not None


def _row(values: Mapping[str, Any], types: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    return [q(c) for c in values], [to_sql_value(v, types[c]) for c, v in values.items()]


def insert(
    conn: sqlite3.Connection,
    layer: str,
    id_column: str,
    values: Mapping[str, Any],
    geometry: BaseGeometry,
    types: Mapping[str, str],
    archived: bool,
) -> None:
    """Insert one feature row (the R-tree triggers index it); refuse a taken or retired id."""
    feature_id = str(values[id_column])
    check_new_feature(layer, feature_id, exists(conn, layer, id_column, feature_id), archived)
    names, params = _row(values, types)
    sql = f"INSERT INTO {q(layer)} ({', '.join([*names, q('geom')])}) VALUES ({', '.join('?' * (len(names) + 1))})"
    conn.execute(sql, [*params, wkb_to_gpkg_blob(geometry, srs_id(conn, layer))])
    update_extent(conn, layer)


def check_current(conn: sqlite3.Connection, entry: HistoryEntry, id_column: str, current: str, expected: str) -> None:
    """Raise ``UnknownFeature`` or ``StaleVersion`` unless the feature exists at ``expected``."""
    if not exists(conn, entry.layer, id_column, entry.feature_id):
        raise UnknownFeature(f"no feature {entry.feature_id!r} in collection {entry.layer!r}")
    check_version(entry, current, expected)


def replace(
    conn: sqlite3.Connection,
    entry: HistoryEntry,
    id_column: str,
    values: Mapping[str, Any],
    geometry: BaseGeometry,
    types: Mapping[str, str],
) -> None:
    """Set the feature's attributes and geometry (the R-tree follows through GDAL's update triggers)."""
    settable = {k: v for k, v in values.items() if k != id_column}
    check_settable(entry.layer, settable, types, id_column)
    names, params = _row(settable, types)
    assign = ", ".join(f"{n} = ?" for n in [*names, q("geom")])
    blob = wkb_to_gpkg_blob(geometry, srs_id(conn, entry.layer))
    conn.execute(f"UPDATE {q(entry.layer)} SET {assign} WHERE {q(id_column)} = ?", [*params, blob, entry.feature_id])
    update_extent(conn, entry.layer)


def delete(conn: sqlite3.Connection, entry: HistoryEntry, id_column: str) -> None:
    """Delete the feature's row (the R-tree delete trigger drops its entry)."""
    conn.execute(f"DELETE FROM {q(entry.layer)} WHERE {q(id_column)} = ?", (entry.feature_id,))
    update_extent(conn, entry.layer)


def update_extent(conn: sqlite3.Connection, layer: str) -> None:
    """Set the layer's ``gpkg_contents`` extent (NULL when empty) and ``last_change`` from its R-tree."""
    tree = q(f"rtree_{layer}_geom")
    conn.execute(
        f"UPDATE gpkg_contents SET min_x = (SELECT min(minx) FROM {tree}), min_y = (SELECT min(miny) FROM {tree}), "
        f"max_x = (SELECT max(maxx) FROM {tree}), max_y = (SELECT max(maxy) FROM {tree}), "
        "last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE lower(table_name) = lower(?)",
        (layer,),
    )
