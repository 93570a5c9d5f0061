"""The reference algorithms every store answers with unless it has a faster way to the same result.

``FeatureStore``'s default methods use these on frames read with ``read``: tile candidates thinned on a
grid, grouped aggregates, vector tiles encoded in Python. Stores that answer in SQL (GeoPackage R-tree
candidates, PostGIS GROUP BY and ST_AsMVT) follow the same rules, and tests hold them to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely

from geo import mvt
from geo.storage.values import BEFORE, Aggregate, MvtTile


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


def _numeric(frame: pd.DataFrame, column: str, clip: tuple[float, float] | None) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if clip is not None:
        values = values.clip(*clip)
    return values.fillna(0.0)


def aggregate_frame(frame: pd.DataFrame, spec: Aggregate) -> pd.DataFrame:
    """Aggregate a frame in pandas: the reference rule every store follows.

    Returns
    -------
    pandas.DataFrame
        The group columns, ``count`` and one column per sum, ordered by the group columns.
    """
    work = pd.DataFrame({c: frame[c].astype(object).where(frame[c].notna(), None) for c in spec.by}, index=frame.index)
    if spec.before is not None:
        column, bound = spec.before
        work[BEFORE] = frame[column].notna() & (frame[column].astype(object).where(frame[column].notna(), "") < bound)
        work[BEFORE] = work[BEFORE].astype(bool)
    work["count"] = 1
    for name, cols in spec.sums.items():
        product = pd.Series(1.0, index=frame.index)
        for column in cols:
            product = product * _numeric(frame, column, spec.clip.get(column))
        work[name] = product
    keys = spec.group_columns()
    if not keys:
        return pd.DataFrame([{"count": len(work), **{n: float(work[n].sum()) for n in spec.sums}}])
    grouped = work.groupby(keys, dropna=False, sort=False).sum(numeric_only=False).reset_index()
    return normalise_aggregate(grouped, spec)


def normalise_aggregate(frame: pd.DataFrame, spec: Aggregate) -> pd.DataFrame:
    """Order groups, make NULL groups None and counts int, whichever store produced the frame."""
    out = frame.copy()
    for column in spec.by:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    out["count"] = out["count"].astype(np.int64)
    for name in spec.sums:
        out[name] = out[name].astype(float)
    keys = spec.group_columns()
    order = sorted(range(len(out)), key=lambda i: tuple((v is not None, str(v)) for v in out.loc[i, keys]))
    return out.iloc[order].reset_index(drop=True)[[*keys, "count", *spec.sums]]


def mvt_layer_from_arrays(geoms: np.ndarray, columns: dict[str, np.ndarray], tile: MvtTile) -> tuple[bytes, int]:
    """Project, generalise, clip and encode a tile's candidates (lon/lat geometries and their property
    columns, the tile's properties only) as one MVT layer; return it and its feature count."""
    if not len(geoms):
        return b"", 0
    pixels = tile.grid.to_pixels(geoms, tile.extent)
    prepared, kept = mvt.prepare(pixels, tile.extent, round(tile.buffer * tile.extent / mvt.EXTENT))
    if not len(prepared):
        return b"", 0
    layer = mvt.TileLayer(tile.name, prepared, {name: np.asarray(v)[kept] for name, v in columns.items()})
    return mvt.encode([layer], tile.extent), len(prepared)


def mvt_layer_from_frame(frame: gpd.GeoDataFrame, tile: MvtTile) -> tuple[bytes, int]:
    """Project, generalise, clip and encode a tile's candidates as one MVT layer; return it and its count."""
    if frame.empty:
        return b"", 0
    names = [p for p in tile.properties if p in frame.columns]
    return mvt_layer_from_arrays(frame.geometry.to_numpy(), {name: frame[name].to_numpy() for name in names}, tile)
