"""Reading a layer page by page and conforming each page to an export schema (columns, CRS, geometry type)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd
import pyproj
import shapely

from geo.crs import CRSLike, get_transformer, to_crs
from geo.storage.base import FeatureStore, Filter
from geo.storage.values import SortKey

GEOMETRY = "geometry"
"""Name of the geometry column in every exported frame."""

DEFAULT_CHUNK = 5000
"""Features per page: small enough to bound memory, large enough to keep per-page overhead low."""

_MULTI = {
    "MultiPolygon": (shapely.GeometryType.POLYGON, shapely.multipolygons),
    "MultiLineString": (shapely.GeometryType.LINESTRING, shapely.multilinestrings),
    "MultiPoint": (shapely.GeometryType.POINT, shapely.multipoints),
}


@dataclass(frozen=True)
class ExportSchema:
    """What an export holds: output columns and their planmap types, geometry type, CRS and labels.

    Attributes
    ----------
    name : the layer name written into the file (GeoPackage table, GeoJSON ``name``).
    columns : output column name -> planmap type (str, int, float, bool, date, datetime, json), in order.
    geometry_type : the single geometry type of the layer, e.g. ``MultiPolygon``.
    crs : the output CRS.
    labels : output column name -> human label (e.g. ``名称 Name``) for field-mapping files.
    """

    name: str
    columns: Mapping[str, str]
    geometry_type: str
    crs: pyproj.CRS
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_geographic(self) -> bool:
        """Return True when coordinates are degrees (lon/lat)."""
        return bool(self.crs.is_geographic)


def iter_frames(
    store: FeatureStore,
    layer: str,
    where: Filter | None = None,
    *,
    columns: list[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Iterator[gpd.GeoDataFrame]:
    """Yield the matching features page by page (ordered by id), never holding more than one page.

    Pages are read by key (``id`` greater than the last page's last id, in the id order every store
    guarantees), so each page costs the same wherever it lies (with an offset the database would walk
    past every earlier row: quadratic over a whole export) and a row is never read twice or skipped when
    another write lands between two pages.

    Parameters
    ----------
    store : the feature store.
    layer : layer id.
    where : which features; None for all.
    columns : attribute columns to read (``id`` is always read).
    chunk_size : features per page.
    """
    for frame, _ in _pages(store, layer, where, columns, chunk_size, records=False):
        yield frame


def iter_records(
    store: FeatureStore,
    layer: str,
    where: Filter | None = None,
    *,
    columns: list[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Iterator[tuple[pd.DataFrame, list[bytes | None]]]:
    """Yield pages like :func:`iter_frames` as attribute columns and WKB geometries (``store.read_records``)."""
    for frame, wkb in _pages(store, layer, where, columns, chunk_size, records=True):
        yield pd.DataFrame(frame), wkb


def _pages(
    store: FeatureStore, layer: str, where: Filter | None, columns: list[str] | None, chunk_size: int, records: bool
) -> Iterator[tuple[pd.DataFrame, list[bytes | None]]]:
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    base = where or Filter()
    # Sorted by id explicitly: the key condition then walks the id index (the GeoPackage's own fid order
    # would scan from the first row on every page, an offset in disguise).
    by_id = (SortKey(store.id_column),)
    last: str | None = None
    while True:
        page = base if last is None else replace(base, cql=_after(base.cql, last))
        if records:
            frame, wkb = store.read_records(layer, page, limit=chunk_size, columns=columns, sortby=by_id)
        else:
            frame, wkb = store.read(layer, page, limit=chunk_size, columns=columns, sortby=by_id), []
        if len(frame):
            yield frame, wkb
        if len(frame) < chunk_size:
            return
        last = str(frame[store.id_column].iloc[-1])


def _after(cql: Mapping[str, Any] | None, last: str) -> dict[str, Any]:
    """Return ``cql`` AND ``id > last`` (CQL2-JSON)."""
    after = {"op": ">", "args": [{"property": "id"}, last]}
    return after if cql is None else {"op": "and", "args": [dict(cql), after]}


def promote(geoms: np.ndarray, geometry_type: str) -> np.ndarray:
    """Return the geometries with single parts wrapped as multi-parts when the layer type is Multi*.

    GeoPackage, FlatGeobuf and GeoParquet declare one geometry type per layer; a Polygon in a
    MultiPolygon layer would be flagged by strict readers.
    """
    if geometry_type not in _MULTI:
        return geoms
    single, make = _MULTI[geometry_type]
    mask = shapely.get_type_id(geoms) == single
    if not mask.any():
        return geoms
    out = geoms.copy()
    out[mask] = [make([g]) for g in geoms[mask]]
    return out


def conform(frame: gpd.GeoDataFrame, schema: ExportSchema, rename: Mapping[str, str]) -> gpd.GeoDataFrame:
    """Return ``frame`` with the schema's columns (renamed by ``rename``), in the schema's CRS and type.

    Columns missing from ``frame`` are added as nulls, so every page has the same shape.
    """
    out = frame if same_coordinates(frame.crs, schema.crs) else to_crs(frame, schema.crs)
    out = out.rename(columns=dict(rename))
    for name in schema.columns:
        if name not in out.columns:
            out[name] = None
    geoms = promote(np.asarray(out.geometry.array, dtype=object), schema.geometry_type)
    data = out[list(schema.columns)]
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, index=out.index, crs=schema.crs), crs=schema.crs)


def conform_records(
    frame: pd.DataFrame, wkb: list[bytes | None], schema: ExportSchema
) -> tuple[pd.DataFrame, list[bytes | None]]:
    """Return a WKB page with the schema's columns in order (missing ones as nulls), as :func:`conform` does.

    Geometries are left as they are: only for a schema whose CRS holds the store's coordinates as they
    are (see :func:`same_coordinates`).
    """
    out = frame.copy() if any(name not in frame.columns for name in schema.columns) else frame
    for name in schema.columns:
        if name not in out.columns:
            out[name] = None
    return out[list(schema.columns)], wkb


def same_coordinates(src: CRSLike | None, dst: CRSLike) -> bool:
    """Return whether reprojecting from ``src`` to ``dst`` leaves every coordinate as it is.

    EPSG:4326 (the stores' CRS) to CRS84 is a no-op in x/y order; skipping it saves a pass over every vertex.
    """
    return src is not None and get_transformer(src, dst).definition.startswith("proj=noop")


def conform_all(
    frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, rename: Mapping[str, str]
) -> Iterator[gpd.GeoDataFrame]:
    """Apply :func:`conform` lazily to every page."""
    for frame in frames:
        yield conform(frame, schema, rename)
