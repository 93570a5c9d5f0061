"""Tile candidates: the features of one tile, thinned on a grid and capped, largest first.

``FeatureStore.read_tile_candidates`` uses ``thin_frame`` (any store, after ``read``); the GeoPackage store
overrides it with ``gpkg_candidates``, which chooses in SQL on the R-tree and reads only the chosen rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

import geopandas as gpd
import shapely

from geo.storage.base import Filter
from geo.storage.codec import frame_from_rows, gpkg_blob_to_wkb
from geo.types import BBox


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def thin_frame(frame: gpd.GeoDataFrame, cell: float | None, limit: int | None) -> gpd.GeoDataFrame:
    """Thin and cap tile candidates (the reference rule every store follows).

    With ``cell`` (degrees), features compete for the grid cell (anchored at -180, -90) holding their
    envelope centre and the one with the largest envelope area wins, so a tile holds at most one feature
    per cell; features that do not overlap and are larger than a cell never share one. The result is
    ordered by envelope area, largest first, then id, and cut to ``limit``.
    """
    b = shapely.bounds(frame.geometry.to_numpy())
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    key = np.arange(len(frame), dtype=float)
    if cell:
        gx = np.floor(((b[:, 0] + b[:, 2]) / 2 + 180.0) / cell)
        gy = np.floor(((b[:, 1] + b[:, 3]) / 2 + 90.0) / cell)
        key = gx * 1e7 + gy
    ranked = frame.assign(_area=w * h, _key=key).sort_values(["_area", "id"], ascending=[False, True], kind="stable")
    out = ranked.drop_duplicates("_key").drop(columns=["_area", "_key"])
    return out.iloc[:limit] if limit is not None else out


def _attribute_exists(layer: str, where: Filter | None, types: dict[str, str], geom: str) -> tuple[str, list[Any]]:
    """Return an EXISTS condition applying the non-bbox conditions to R-tree row ``r`` (by rowid)."""
    from geo.storage import sqlfilter

    if where is None:
        return "", []
    clause, params = sqlfilter.where_clause(layer, geom, replace(where, bbox=None), types)
    if not clause:
        return "", []
    cond = clause.removeprefix(" WHERE ")
    return f" AND EXISTS (SELECT 1 FROM {_q(layer)} WHERE ({cond}) AND fid = r.id)", params


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
    rtree = _q(f"rtree_{layer}_{geom}")
    overlap = "r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?"
    box_params = [bbox[2], bbox[0], bbox[3], bbox[1]]
    exists, attr_params = _attribute_exists(layer, where, types, geom)
    area = "(r.maxx - r.minx) * (r.maxy - r.miny)"
    if not cell:
        sql = f"SELECT r.id, {area} AS a FROM {rtree} r WHERE {overlap}{exists} ORDER BY a DESC, r.id LIMIT ?"
        params = [*box_params, *attr_params, -1 if limit is None else limit]
        return [row[0] for row in conn.execute(sql, params)]
    grid = f"CAST(((r.minx + r.maxx) / 2 + 180.0) / {cell!r} AS INTEGER)"
    grid_y = f"CAST(((r.miny + r.maxy) / 2 + 90.0) / {cell!r} AS INTEGER)"
    # SQLite takes the bare column ``id`` from the row holding max(a): the largest feature of each cell
    sql = (
        f"SELECT id, a FROM (SELECT id, max(a) AS a FROM (SELECT r.id AS id, {area} AS a, {grid} AS gx, "
        f"{grid_y} AS gy FROM {rtree} r WHERE {overlap}{exists}) GROUP BY gx, gy) ORDER BY a DESC, id LIMIT ?"
    )
    params = [*box_params, *attr_params, -1 if limit is None else limit]
    return [row[0] for row in conn.execute(sql, params)]


def gpkg_rows_by_fid(
    conn: sqlite3.Connection,
    layer: str,
    geom: str,
    fids: Sequence[int],
    columns: Sequence[str],
    types: dict[str, str],
) -> gpd.GeoDataFrame:
    """Read the given rows (columns plus geometry) in the order of ``fids``."""
    select = ", ".join(_q(c) for c in ["fid", *columns])
    sql = f"SELECT {select}, {_q(geom)} FROM {_q(layer)} WHERE fid IN (SELECT value FROM json_each(?))"
    rows = conn.execute(sql, [json.dumps(list(fids))]).fetchall()
    order = {fid: i for i, fid in enumerate(fids)}
    rows.sort(key=lambda row: order[row[0]])
    return frame_from_rows([row[1:] for row in rows], list(columns), types, gpkg_blob_to_wkb)
