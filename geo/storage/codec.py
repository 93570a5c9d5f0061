"""Converting GeoDataFrames to and from what a store holds (typed columns, GeoPackage geometry blobs)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

import geopandas as gpd
import pyproj
import shapely
from geopandas.array import GeometryArray
from shapely.geometry.base import BaseGeometry

STORE_CRS = "EPSG:4326"
"""Every layer is held in lon/lat (x = longitude), as GeoPackage and GeoJSON both expect."""
_STORE_CRS = pyproj.CRS(STORE_CRS)

COLUMN_TYPES = ("str", "int", "float", "bool", "date", "datetime", "json")

# GeoPackage geometry header: 8 bytes, then an envelope whose size depends on flag bits 1-3 (spec 2.1.3).
_ENVELOPE_BYTES = (0, 32, 48, 48, 64)


def gpkg_blob_to_wkb(blob: bytes | None) -> bytes | None:
    """Strip the GeoPackage header from a geometry blob, leaving standard WKB.

    Written by hand because neither shapely nor pyogrio decode single GeoPackage blobs; the header is a
    fixed 8 bytes plus an envelope of a size given by the flags byte.
    """
    if blob is None:
        return None
    flags = blob[3]
    if flags & 0b10000:  # empty geometry
        return None
    return bytes(blob[8 + _ENVELOPE_BYTES[(flags >> 1) & 0b111] :])


def wkb_to_gpkg_blob(geom: BaseGeometry, srs_id: int) -> bytes:
    """Return a GeoPackage geometry blob: little-endian header with an xy envelope, then standard WKB.

    The inverse of :func:`gpkg_blob_to_wkb` for one non-empty 2D geometry (spec 2.1.3: magic ``GP``,
    version 0, flags 0b011 = xy envelope, little endian).

    Examples
    --------
    >>> from shapely import Point
    >>> blob = wkb_to_gpkg_blob(Point(112.9, 27.8), 4326)
    >>> blob[:4], shapely.from_wkb(gpkg_blob_to_wkb(blob)).wkt
    (b'GP\\x00\\x03', 'POINT (112.9 27.8)')
    """
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP" + struct.pack("<BBi4d", 0, 0b011, srs_id, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, byte_order=1)


def infer_type(series: pd.Series) -> str:
    """Return the planmap column type of a pandas column."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    sample = series.dropna()
    first = sample.iloc[0] if len(sample) else ""
    if isinstance(first, bool):
        return "bool"
    if isinstance(first, datetime):
        return "datetime"
    if isinstance(first, date):
        return "date"
    if isinstance(first, dict | list):
        return "json"
    return "str"


def _encode_value(value: Any, kind: str) -> Any:
    if value is None or (not isinstance(value, dict | list) and pd.isna(value)):
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind in ("date", "datetime") and hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _encode_column(series: pd.Series, kind: str) -> pd.Series:
    """Return a column as GDAL should write a column of planmap type ``kind``."""
    if kind == "bool":
        return series.astype("boolean")  # keeps None as NA instead of turning the column to text
    if kind in ("int", "float"):
        return pd.to_numeric(series).astype("Int64" if kind == "int" else float)
    if kind in ("json", "date", "datetime"):
        return series.map(lambda v: _encode_value(v, kind)).astype(object)
    return series.map(lambda v: None if v is None or pd.isna(v) else str(v)).astype(object)


def _check_frame(frame: gpd.GeoDataFrame, id_column: str, declared: Mapping[str, str]) -> None:
    unknown = {k: v for k, v in declared.items() if v not in COLUMN_TYPES}
    if unknown:
        raise ValueError(f"unknown column types {unknown}; use {COLUMN_TYPES}")
    if id_column not in frame.columns:
        raise ValueError(f"layer needs an {id_column!r} column")
    if not frame[id_column].is_unique:
        raise ValueError(f"{id_column!r} values must be unique")
    if frame.crs is None:
        raise ValueError("layer has no CRS")


SLICE_ROWS = 50_000
"""Rows encoded (and written) at a time: a million features are not converted all at once."""


@dataclass(frozen=True)
class EncodedLayer:
    """A layer ready to be written: its rows in id order in the store's CRS, column types, encoded in slices."""

    frame: gpd.GeoDataFrame
    order: npt.NDArray[np.intp]
    types: dict[str, str]

    def __len__(self) -> int:
        return len(self.order)

    def slices(self, rows: int | None = None) -> Iterator[gpd.GeoDataFrame]:
        """Yield the encoded rows (dates as ISO text, JSON as text), ``rows`` (``SLICE_ROWS``) at a time.

        An empty layer gives one empty frame.
        """
        rows = rows or SLICE_ROWS
        for start in range(0, max(len(self.order), 1), rows):
            part = self.frame.iloc[self.order[start : start + rows]]
            for name, kind in self.types.items():
                part[name] = _encode_column(part[name], kind)
            yield part


def prepare_layer(frame: gpd.GeoDataFrame, id_column: str, types: Mapping[str, str] | None = None) -> EncodedLayer:
    """Check a frame to be written and settle its row order (id order) and column types.

    ``types`` gives planmap types for named columns (e.g. from a catalogue), so that a column that is empty
    in this frame still gets its declared type; other columns are inferred from their values.

    Raises ``ValueError`` when the id column is missing or not unique, the frame has no CRS, or a declared
    type is unknown.
    """
    declared = dict(types or {})
    _check_frame(frame, id_column, declared)
    out = frame.to_crs(STORE_CRS) if not frame.crs.equals(STORE_CRS) else frame
    # Rows go in id order (code-point order, as SQLite's BINARY and PostgreSQL's "C" collations compare),
    # so a store's row order is its id order.
    order = np.argsort(out[id_column].astype(str).to_numpy(dtype=str), kind="stable")
    column_types: dict[str, str] = {}
    for name in out.columns:
        if name == out.geometry.name:
            continue
        column_types[name] = "str" if name == id_column else declared.get(name) or infer_type(out[name].iloc[order])
    return EncodedLayer(out, order, column_types)


def encode_frame(
    frame: gpd.GeoDataFrame, id_column: str, types: Mapping[str, str] | None = None
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Return a copy ready for GDAL (dates as ISO text, JSON as text) and the column types, in one frame.

    See :func:`prepare_layer`; :meth:`EncodedLayer.slices` gives the same rows a slice at a time.
    """
    layer = prepare_layer(frame, id_column, types)
    return next(layer.slices(max(len(layer), 1))), layer.types


def read_columns(columns: Sequence[str] | None, types: Mapping[str, str], id_column: str) -> list[str]:
    """Return the stored columns to read: those asked for (all when None) that exist, the id column first if absent.

    Examples
    --------
    >>> read_columns(["name", "nope"], {"id": "str", "name": "str"}, "id")
    ['id', 'name']
    """
    wanted = [c for c in (columns or list(types)) if c in types]
    if id_column not in wanted:
        wanted.insert(0, id_column)
    return wanted


def decode_column(values: Sequence[Any], kind: str | None) -> Any:
    """Return one column read back from a store as the array its planmap type calls for.

    Built column by column from plain lists: much cheaper than a frame of objects cast column by column
    (a page of 100 rows decodes in well under a millisecond).
    """
    if kind == "float":
        return np.array(values, dtype=float)  # None -> NaN
    if kind in ("int", "bool"):
        if any(v is None for v in values):
            return pd.array(values, dtype="Int64" if kind == "int" else "boolean")
        return np.array(values, dtype=np.int64 if kind == "int" else bool)
    return pd.Series(decode_array(values, kind), dtype=object, copy=False)


def decode_array(values: Sequence[Any], kind: str | None) -> np.ndarray:
    """Return one column as :func:`decode_column` types it, as a numpy array (object for text, dates, JSON
    and ints or bools with missing values): what a tile needs, without a Series per column."""
    if kind in ("float", "int", "bool"):
        return np.asarray(decode_column(values, kind))
    if kind == "json":
        values = [None if v is None else json.loads(v) for v in values]
    return np.fromiter(values, dtype=object, count=len(values))


def records_from_rows(
    rows: Sequence[Sequence[Any]],
    names: Sequence[str],
    types: Mapping[str, str],
    to_wkb: Callable[[Any], bytes | None] | None = None,
) -> tuple[pd.DataFrame, list[bytes | None]]:
    """Return the typed attribute columns of rows whose last value is a geometry blob, and the blobs as WKB.

    Columns get their planmap types as in :func:`frame_from_rows`; no geometry is built.
    """
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(names) + 1)]
    data = {name: decode_column(values, types.get(name)) for name, values in zip(names, columns, strict=False)}
    blobs = columns[len(names)]
    return pd.DataFrame(data), list(blobs) if to_wkb is None else [to_wkb(b) for b in blobs]


def frame_from_rows(
    rows: Sequence[Sequence[Any]],
    names: Sequence[str],
    types: Mapping[str, str],
    to_wkb: Callable[[Any], bytes | None] | None = None,
) -> gpd.GeoDataFrame:
    """Build a GeoDataFrame from rows whose last value is a geometry blob, giving columns their planmap types.

    Bools become ``bool`` (``boolean`` with NA when a value is missing), ints ``int64`` (or ``Int64``),
    floats ``float64`` (None as NaN), JSON text is parsed, and text, dates and datetimes stay Python objects.
    """
    frame, blobs = records_from_rows(rows, names, types, to_wkb)
    geometry = shapely.from_wkb(np.fromiter(blobs, dtype=object, count=len(blobs)))
    # A plain frame with the geometry column added, then wrapped: about half the cost of passing
    # ``geometry=`` to the GeoDataFrame constructor, which re-checks every column.
    frame["geometry"] = GeometryArray(geometry, crs=_STORE_CRS)
    return gpd.GeoDataFrame(frame, geometry="geometry", copy=False)
