"""Tile candidates of the GeoPackage store, chosen in SQL on the R-tree (``generic.thin_frame``'s rule).

Only the chosen rows are then read, so a dense tile does not decode every feature in its box.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

import geopandas as gpd
import shapely

from geo.storage.codec import decode_array, frame_from_rows, gpkg_blob_to_wkb
from geo.storage.gpkg.dialect import SQLITE, rtree
from geo.storage.sql import Params, quote_ident, render_where
from geo.storage.values import Filter
from geo.types import BBox


def _attribute_exists(layer: str, where: Filter | None, types: dict[str, str], geom: str, p: Params) -> str:
    """Return an EXISTS condition applying the non-bbox conditions to R-tree row ``r`` (by rowid)."""
    cond = render_where(
        replace(where, bbox=None) if where else None, types, dialect=SQLITE, params=p, layer=layer, geom_col=geom
    )
    return f" AND EXISTS (SELECT 1 FROM {quote_ident(layer)} WHERE ({cond}) AND fid = r.id)" if cond else ""


def gpkg_candidate_fids(
    conn: sqlite3.Connection,
    layer: str,
    geom: str,
    bbox: BBox,
    where: Filter | None,
    types: dict[str, str],
    cell: float | None,
    limit: int | None,
) -> list[int]:
    """Choose the tile's feature ids in SQL on the R-tree (``thin_frame``'s rule, ties by R-tree order)."""
    p = SQLITE.params()
    overlap = f"r.minx <= {p(bbox[2])} AND r.maxx >= {p(bbox[0])} AND r.miny <= {p(bbox[3])} AND r.maxy >= {p(bbox[1])}"
    exists = _attribute_exists(layer, where, types, geom, p)
    area = "(r.maxx - r.minx) * (r.maxy - r.miny)"
    lim = p.named("lim", -1 if limit is None else limit)
    if not cell:
        sql = f"SELECT r.id, {area} AS a FROM {rtree(layer, geom)} r WHERE {overlap}{exists} ORDER BY a DESC, r.id"
        return [row[0] for row in conn.execute(f"{sql} LIMIT {lim}", p.values)]
    cell_p = p.named("cell", float(cell))
    grid = f"CAST(((r.minx + r.maxx) / 2 + 180.0) / {cell_p} AS INTEGER)"
    grid_y = f"CAST(((r.miny + r.maxy) / 2 + 90.0) / {cell_p} AS INTEGER)"
    # SQLite takes the bare column ``id`` from the row holding max(a): the largest feature of each cell
    sql = (
        f"SELECT id, a FROM (SELECT id, max(a) AS a FROM (SELECT r.id AS id, {area} AS a, {grid} AS gx, "
        f"{grid_y} AS gy FROM {rtree(layer, geom)} r WHERE {overlap}{exists}) GROUP BY gx, gy) "
        f"ORDER BY a DESC, id LIMIT {lim}"
    )
    return [row[0] for row in conn.execute(sql, p.values)]


def gpkg_envelopes(conn: sqlite3.Connection, layer: str, geom: str, bbox: BBox) -> tuple[np.ndarray, np.ndarray]:
    """Return the ids and envelopes ``(minx, miny, maxx, maxy)`` of the features whose envelope meets ``bbox``."""
    p = SQLITE.params()
    overlap = f"r.minx <= {p(bbox[2])} AND r.maxx >= {p(bbox[0])} AND r.miny <= {p(bbox[3])} AND r.maxy >= {p(bbox[1])}"
    sql = f"SELECT r.id, r.minx, r.miny, r.maxx, r.maxy FROM {rtree(layer, geom)} r WHERE {overlap}"
    rows = conn.execute(sql, p.values).fetchall()
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return table[:, 0].astype(np.int64), table[:, 1:]


def _rows_in_order(
    conn: sqlite3.Connection, layer: str, geom: str, fids: Sequence[int], columns: Sequence[str]
) -> list[tuple]:
    """Read the given rows (fid, columns, geometry blob) in the order of ``fids``."""
    select = ", ".join(quote_ident(c) for c in ["fid", *columns])
    sql = (
        f"SELECT {select}, {quote_ident(geom)} FROM {quote_ident(layer)} WHERE fid IN (SELECT value FROM json_each(?))"
    )
    rows = conn.execute(sql, [json.dumps(list(fids))]).fetchall()
    order = {fid: i for i, fid in enumerate(fids)}
    rows.sort(key=lambda row: order[row[0]])
    return rows


def gpkg_tile_arrays(
    conn: sqlite3.Connection,
    layer: str,
    geom: str,
    fids: Sequence[int],
    columns: Sequence[str],
    types: dict[str, str],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read the given rows as geometries and typed columns, in the order of ``fids``, without a data frame.

    A tile needs arrays only; a GeoDataFrame of a few dozen rows costs more to build than the tile.
    """
    rows = _rows_in_order(conn, layer, geom, fids, columns)
    values = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(columns) + 2)]
    wkb = np.fromiter((gpkg_blob_to_wkb(b) for b in values[-1]), dtype=object, count=len(rows))
    arrays = {name: decode_array(values[i + 1], types.get(name)) for i, name in enumerate(columns)}
    return shapely.from_wkb(wkb), arrays


def gpkg_rows_by_fid(
    conn: sqlite3.Connection,
    layer: str,
    geom: str,
    fids: Sequence[int],
    columns: Sequence[str],
    types: dict[str, str],
) -> gpd.GeoDataFrame:
    """Read the given rows (columns plus geometry) in the order of ``fids``."""
    rows = _rows_in_order(conn, layer, geom, fids, columns)
    return frame_from_rows([row[1:] for row in rows], list(columns), types, gpkg_blob_to_wkb)
