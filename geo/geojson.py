"""GeoJSON encoding of GeoDataFrames: RFC 7946 features for the API, the same encoder for file exports.

:func:`features` gives CCW exteriors, fixed precision and any output CRS in its axis order;
:func:`encode_features` and :func:`dumps` are the writer underneath, shared with ``geo.writers.text``:
one rule for missing values (NaN, NA, NaT and inf become ``null``), one for coordinate text (at most
:func:`decimals_for` the CRS, shortest round-trip form) and one JSON serialiser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import CRS84, CRSLike, as_crs, transform_geometry
from geo.geometry_json import geometry_dicts, round_coordinates

DEGREE_DECIMALS = 7
"""Decimals kept for degrees: 1e-7 degree is about 1 cm at Xiangtan's latitude."""

METRE_DECIMALS = 3
"""Decimals kept for projected coordinates in metres (1 mm)."""

_TEXT = {str, type(None)}
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def is_north_first(crs: CRSLike) -> bool:
    """Return whether the CRS's authority axis order puts northing/latitude first.

    EPSG:4326 and EPSG:4490 are (lat, lon) and the CGCS2000 Gauss-Krüger CRSs EPSG:4546/4547 are
    (northing X, easting Y) by their EPSG definitions; OGC:CRS84 and EPSG:3857 are (x, y).

    Examples
    --------
    >>> is_north_first("EPSG:4547"), is_north_first("OGC:CRS84")
    (True, False)
    """
    axes = as_crs(crs).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def decimals_for(crs: CRSLike) -> int:
    """Return the decimals written for a CRS's coordinates: 7 for degrees (about 1 cm), 3 for metres (1 mm).

    Geographic CRSs (CRS84, EPSG:4326, EPSG:4490) are in degrees; the projected ones planmap writes
    (Gauss-Krüger EPSG:4546/4547, Web Mercator EPSG:3857) are in metres, where millimetres are plenty.

    Examples
    --------
    >>> decimals_for("OGC:CRS84"), decimals_for("EPSG:4490"), decimals_for("EPSG:4547"), decimals_for(3857)
    (7, 7, 3, 3)
    """
    parsed = as_crs(crs)
    return DEGREE_DECIMALS if parsed.is_geographic else METRE_DECIMALS


def swap_xy(geom: Any) -> Any:
    """Swap the two axes of a geometry (or array of them)."""
    return shapely.transform(geom, lambda coords: coords[:, ::-1])


def prepare_geometries(
    geoms: Sequence[BaseGeometry | None] | np.ndarray,
    crs: CRSLike = CRS84,
    *,
    src: CRSLike = CRS84,
    authority_axes: bool = True,
) -> np.ndarray:
    """Return CRS84 geometries ready for output in ``crs``.

    Polygons get counter-clockwise exteriors and clockwise holes (RFC 7946 section 3.1.6), are
    reprojected, have their axes put in the CRS's authority order when ``authority_axes`` (OGC API
    Features Part 2) and are rounded to :func:`decimals_for` the CRS.

    Parameters
    ----------
    geoms : shapely geometries (None allowed) in ``src``.
    crs : the output CRS.
    src : the CRS of ``geoms``; CRS84 (lon/lat) by default.
    authority_axes : swap to (north, east) for CRSs defined that way; False keeps (x, y).

    Examples
    --------
    >>> from shapely import Polygon
    >>> out = prepare_geometries([Polygon([(0, 0), (0, 1), (1, 1), (0, 0)])])
    >>> out[0].exterior.is_ccw
    True
    """
    arr = np.asarray(geoms, dtype=object)
    target = as_crs(crs)
    if not target.equals(as_crs(src)):
        arr = transform_geometry(arr, src, target)
    arr = shapely.orient_polygons(arr, exterior_cw=False)
    if authority_axes and is_north_first(target):
        arr = swap_xy(arr)
    return round_coordinates(arr, decimals_for(target))


def json_value(value: Any) -> Any:
    """Return a value JSON can hold: NaN/NaT/NA -> None, numpy scalars -> Python, dates -> ISO text."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NaT:  # a datetime subclass, so checked first
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value


def features(
    frame: gpd.GeoDataFrame,
    crs: CRSLike = CRS84,
    *,
    id_column: str = "id",
    properties: Iterable[str] | None = None,
    authority_axes: bool = True,
) -> list[dict[str, Any]]:
    """Encode a CRS84 GeoDataFrame as a list of GeoJSON Feature objects (no ``crs`` member).

    Parameters
    ----------
    frame : features in CRS84 (EPSG:4326 labelled frames are accepted: same lon/lat axes in storage).
    crs : output CRS; CRS84 gives RFC 7946 GeoJSON.
    id_column : the column used as each feature's ``id`` (it is not repeated in ``properties``).
    properties : the columns to put into ``properties``; all but id and geometry when None.
    authority_axes : see :func:`prepare_geometries`.

    Examples
    --------
    >>> from shapely import Point
    >>> gdf = gpd.GeoDataFrame({"id": ["a"], "n": [float("nan")]}, geometry=[Point(112.9, 27.8)], crs=4326)
    >>> features(gdf)[0]["properties"]
    {'n': None}
    """
    names = [c for c in (properties if properties is not None else frame.columns) if c in frame.columns]
    names = [c for c in names if c not in (id_column, frame.geometry.name)]
    geoms = prepare_geometries(frame.geometry.array, crs, authority_axes=authority_axes)
    return encode_features(frame, geoms, id_column=id_column, properties=names)


def encode_features(
    frame: pd.DataFrame,
    geoms: np.ndarray,
    *,
    id_column: str | None = "id",
    properties: Sequence[str] = (),
    decimals: int | None = None,
) -> list[dict[str, Any]]:
    """Return GeoJSON Feature objects for the rows of ``frame`` and their ready-to-write geometries.

    Nothing is reprojected or reoriented here, nor rounded unless ``decimals`` is given (see
    :func:`prepare_geometries` and :func:`round_coordinates`); missing values become None (see
    :func:`property_values`), and missing or empty geometries ``null``.

    Parameters
    ----------
    frame : the rows; only ``id_column`` and ``properties`` are read from it.
    geoms : one shapely geometry (or None) per row, as they are to be written.
    id_column : the column holding each feature's ``id``; None (or a column the frame lacks) gives ``null`` ids.
    properties : the columns written into ``properties``, in order (the id column too, if listed).
    decimals : round coordinates to this many decimals while encoding (as :func:`round_coordinates` would).

    Examples
    --------
    >>> frame = pd.DataFrame({"id": ["a"], "n": [float("nan")]})
    >>> dumps(encode_features(frame, np.array([shapely.Point(1, 2)]), properties=["id", "n"]))
    b'[{"type":"Feature","id":"a","geometry":{"type":"Point","coordinates":[1.0,2.0]},"properties":{"id":"a","n":null}}]'
    """
    ids = property_values(frame[id_column]) if id_column in frame.columns else [None] * len(frame)
    keys = [str(n) for n in properties]
    columns = [property_values(frame[n]) for n in properties]
    rows = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)] if keys else None
    shapes = geometry_dicts(geoms, decimals)
    return [
        {"type": "Feature", "id": fid, "geometry": geom, "properties": rows[i] if rows else {}}
        for i, (fid, geom) in enumerate(zip(ids, shapes, strict=True))
    ]


def dumps(content: Any) -> bytes:
    """Serialise to compact UTF-8 JSON with orjson: NaN and inf become null (JSON has neither).

    Types orjson does not know (pandas NA, Timestamps, dates inside dicts) go through :func:`json_value`.
    Floats are written in their shortest round-trip form.

    Examples
    --------
    >>> dumps({"x": float("nan"), "n": np.int64(7), "when": pd.Timestamp("2025-06-30")})
    b'{"x":null,"n":7,"when":"2025-06-30T00:00:00"}'
    """
    return orjson.dumps(content, default=json_value, option=_ORJSON_OPTIONS)


def property_values(series: pd.Series) -> list[Any]:
    """Return a column's values as JSON can hold them (see :func:`json_value`), numeric columns in one pass."""
    values = series.to_numpy()
    if values.dtype.kind in "biu":
        return values.tolist()
    if values.dtype.kind == "f":
        out = values.tolist()
        for i in np.flatnonzero(~np.isfinite(values)):
            out[i] = None
        return out
    out = series.tolist()
    if set(map(type, out)) <= _TEXT:  # the type set is built in C: several times faster than a generator
        return out
    return [json_value(v) for v in out]


def bbox_of(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    """Return the CRS84 bounds of a frame rounded outward to ``DEGREE_DECIMALS``, or None when it is empty."""
    if frame.empty or frame.geometry.is_empty.all():
        return None
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    scale = 10**DEGREE_DECIMALS
    return (
        math.floor(minx * scale) / scale,
        math.floor(miny * scale) / scale,
        math.ceil(maxx * scale) / scale,
        math.ceil(maxy * scale) / scale,
    )


def svg_figure(geoms: Sequence[BaseGeometry | None], size: int = 360) -> str:
    """Return an inline SVG document drawing lon/lat geometries (north up), for offline HTML pages.

    Examples
    --------
    >>> from shapely import Point
    >>> svg_figure([Point(112.9, 27.8)]).startswith("<svg")
    True
    """
    present = [g for g in geoms if g is not None and not g.is_empty]
    if not present:
        return ""
    collection = shapely.GeometryCollection(present)
    minx, miny, maxx, maxy = collection.bounds
    pad = max(maxx - minx, maxy - miny, 1e-4) * 0.05
    width, height = maxx - minx + 2 * pad, maxy - miny + 2 * pad
    scale = max(width, height) / 100
    body = collection.svg(scale_factor=scale)
    view = f"{minx - pad} {-(maxy + pad)} {width} {height}"
    return (
        f'<svg width="{size}" height="{size}" viewBox="{view}" '
        f'preserveAspectRatio="xMidYMid meet"><g transform="scale(1,-1)">{body}</g></svg>'
    )


__all__ = [
    "DEGREE_DECIMALS",
    "METRE_DECIMALS",
    "bbox_of",
    "decimals_for",
    "dumps",
    "encode_features",
    "features",
    "geometry_dicts",
    "is_north_first",
    "json_value",
    "prepare_geometries",
    "property_values",
    "round_coordinates",
    "svg_figure",
    "swap_xy",
]
