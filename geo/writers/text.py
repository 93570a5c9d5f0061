"""Streaming text encoders: GeoJSON FeatureCollections and CSV, one page of features at a time."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd

import geopandas as gpd
import shapely

from geo import geojson
from geo.errors import InvalidFormat
from geo.geometry_json import geometry_texts
from geo.writers.frames import ExportSchema
from geo.writers.wkb_text import wkb_geometry_texts

CsvGeometry = Literal["wkt", "lonlat"]
UTF8_BOM = b"\xef\xbb\xbf"
"""Excel opens UTF-8 CSV as the local code page (GBK on Chinese Windows) unless the file starts with a BOM."""


def crs_member(schema: ExportSchema) -> dict[str, Any] | None:
    """Return the GeoJSON 2008 ``crs`` member for a non-CRS84 export, or None for RFC 7946 output.

    RFC 7946 GeoJSON is CRS84 only. For another CRS planmap writes the pre-RFC form with a named ``crs``
    member (``urn:ogc:def:crs:EPSG::<code>``), which GDAL, QGIS and geopandas read, coordinates in x/y
    (easting/northing or lon/lat) order.
    """
    if schema.crs.equals("OGC:CRS84") or schema.crs.to_epsg() == 4326:
        return None
    code = schema.crs.to_epsg()
    if code is None:
        raise InvalidFormat(f"CRS {schema.crs.name!r} has no EPSG code to name in GeoJSON")
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}}


Records = tuple[pd.DataFrame, list[bytes | None]]
"""A page as attribute columns and WKB geometries (see :func:`geo.writers.frames.iter_records`)."""


def _features(page: gpd.GeoDataFrame | Records, schema: ExportSchema, decimals: int, id_column: str | None) -> bytes:
    """Encode a conformed page (CRS and axes settled by the schema), coordinates rounded to ``decimals``.

    The same bytes as ``geojson.dumps`` of each of :func:`geo.geojson.encode_features`' features joined by
    ``,\\n``, built faster: geometries are cut from one text of the page's vertices (see
    :func:`geo.geometry_json.geometry_texts`; for WKB pages :func:`geo.writers.wkb_text.wkb_geometry_texts`)
    and go into ``orjson`` as ready-made fragments, and the page is serialised by one ``orjson`` call.
    """
    if isinstance(page, tuple):
        frame, wkb = page
        texts = wkb_geometry_texts(wkb, decimals, schema.geometry_type)
        names = list(frame.columns)
    else:
        frame = page
        texts = geometry_texts(np.asarray(frame.geometry.array, dtype=object), decimals)
        names = [c for c in frame.columns if c != frame.geometry.name]
    shapes = [None if t is None else orjson.Fragment(t) for t in texts]
    ids = geojson.property_values(frame[id_column]) if id_column in frame.columns else [None] * len(frame)
    columns = [geojson.property_values(frame[n]) for n in names]
    keys = [str(n) for n in names]
    rows = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)] if keys else None
    feats = [
        {"type": "Feature", "id": fid, "geometry": shape, "properties": rows[i] if rows else {}}
        for i, (fid, shape) in enumerate(zip(ids, shapes, strict=True))
    ]
    if any(_nested(values) for values in columns):
        return b",\n".join(geojson.dumps(feature) for feature in feats)
    # With only scalar properties, this marker can stand only between two features (inside a JSON
    # string every quote is escaped), so the page is written at once and split there.
    return geojson.dumps(feats)[1:-1].replace(_BETWEEN, _BETWEEN_LINES)


_BETWEEN = b'},{"type":"Feature","id":'
_BETWEEN_LINES = b'},\n{"type":"Feature","id":'
_SCALARS = {str, int, float, bool, type(None)}


def _nested(values: list[Any]) -> bool:
    """Return whether a column's JSON values hold objects or arrays (JSON-typed attributes)."""
    return not set(map(type, values)) <= _SCALARS


def geojson_chunks(
    frames: Iterable[gpd.GeoDataFrame | Records], schema: ExportSchema, id_column: str | None = "id"
) -> Iterator[bytes]:
    """Return a GeoJSON FeatureCollection as an iterator of UTF-8 chunks, one per page of features.

    The header is built (and its CRS checked) at once, so errors surface before the first byte.
    Coordinates are written like the API's: at most 7 decimals in degrees, 3 in metres
    (see :func:`geo.geojson.decimals_for`), in their shortest form.

    Parameters
    ----------
    frames : pages already conformed to ``schema`` (see :func:`geo.writers.frames.conform`), or their
        attributes and WKB geometries (see :func:`geo.writers.frames.conform_records`).
    schema : the export schema (its CRS decides whether a ``crs`` member is written).
    id_column : property copied into each feature's ``id``; None for no id.
    """
    head: dict[str, Any] = {"type": "FeatureCollection", "name": schema.name}
    member = crs_member(schema)
    if member is not None:
        head["crs"] = member
    decimals = geojson.decimals_for(schema.crs)
    return _geojson_stream(frames, schema, geojson.dumps(head)[:-1] + b',"features":[\n', decimals, id_column)


def _geojson_stream(
    frames: Iterable[gpd.GeoDataFrame | Records],
    schema: ExportSchema,
    head: bytes,
    decimals: int,
    id_column: str | None,
) -> Iterator[bytes]:
    yield head
    first = True
    for frame in frames:
        if (frame[0] if isinstance(frame, tuple) else frame).empty:
            continue
        yield (b",\n" if not first else b"") + _features(frame, schema, decimals, id_column)
        first = False
    yield b"\n]}\n"


def _geometry_columns(frame: gpd.GeoDataFrame, schema: ExportSchema, geometry: CsvGeometry) -> pd.DataFrame:
    geoms = np.asarray(frame.geometry.array, dtype=object)
    if geometry == "wkt":
        # 9 decimals of a degree is 0.1 mm; 4 decimals of a metre likewise: exact enough, much shorter than repr.
        precision = 9 if schema.is_geographic else 4
        return pd.DataFrame({"wkt": shapely.to_wkt(geoms, rounding_precision=precision)}, index=frame.index)
    names = ("lon", "lat") if schema.is_geographic else ("x", "y")
    return pd.DataFrame({names[0]: shapely.get_x(geoms), names[1]: shapely.get_y(geoms)}, index=frame.index)


def _csv_text(frame: gpd.GeoDataFrame, schema: ExportSchema, geometry: CsvGeometry, header: bool) -> str:
    data = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for name, kind in schema.columns.items():
        if kind == "json" and name in data:
            data[name] = data[name].map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
    out = pd.concat([data, _geometry_columns(frame, schema, geometry)], axis=1)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=header, lineterminator="\r\n")
    return buffer.getvalue()


def csv_chunks(
    frames: Iterable[gpd.GeoDataFrame],
    schema: ExportSchema,
    geometry: CsvGeometry = "wkt",
    headers: dict[str, str] | None = None,
) -> Iterator[bytes]:
    """Return a UTF-8 CSV (with BOM) as an iterator of chunks: attributes plus WKT or lon/lat (x/y) columns.

    Parameters
    ----------
    frames : pages conformed to ``schema``.
    schema : the export schema.
    geometry : ``wkt`` for a WKT column, ``lonlat`` for ``lon``/``lat`` (``x``/``y`` when projected)
        columns; ``lonlat`` needs a Point layer.
    headers : output column -> header text (e.g. Chinese aliases); columns not named keep their name.

    Raises
    ------
    InvalidFormat
        If ``geometry`` is ``lonlat`` for a layer that is not made of points.
    """
    if geometry not in ("wkt", "lonlat"):
        raise InvalidFormat(f"unknown CSV geometry {geometry!r}; use wkt or lonlat")
    if geometry == "lonlat" and schema.geometry_type != "Point":
        raise InvalidFormat(f"geometry=lonlat needs a Point layer; {schema.name} has {schema.geometry_type}")
    names = [*schema.columns, *(("wkt",) if geometry == "wkt" else ("lon", "lat"))]
    if geometry == "lonlat" and not schema.is_geographic:
        names[-2:] = ["x", "y"]
    header_row = pd.DataFrame(columns=[(headers or {}).get(n, n) for n in names])
    head = UTF8_BOM + header_row.to_csv(index=False, lineterminator="\r\n").encode()
    return _csv_stream(frames, schema, geometry, head)


def _csv_stream(
    frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, geometry: CsvGeometry, head: bytes
) -> Iterator[bytes]:
    yield head
    for frame in frames:
        if not frame.empty:
            yield _csv_text(frame, schema, geometry, header=False).encode()
