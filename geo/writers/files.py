"""File writers fed page by page: GDAL formats through one pyogrio Arrow stream, GeoParquet through pyarrow."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import geopandas as gpd
import pyogrio
import shapely

from geo.errors import InvalidFormat
from geo.writers.formats import ExportFormat
from geo.writers.frames import GEOMETRY, ExportSchema

_ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.string(),
    "json": pa.string(),
}
_TEXT = {str, type(None)}
_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
SHAPEFILE_FIELD_MAX = 10
"""dBASE field names hold at most 10 characters."""


def arrow_schema(schema: ExportSchema) -> pa.Schema:
    """Return the Arrow schema of a page: typed attribute columns and a WKB ``geometry`` column."""
    fields = [pa.field(name, _ARROW_TYPES[kind]) for name, kind in schema.columns.items()]
    return pa.schema([*fields, pa.field(GEOMETRY, pa.binary())])


def _column(values: pd.Series, kind: str) -> pa.Array:
    if kind in ("str", "datetime"):
        items = values.tolist()
        if not {type(v) for v in items} <= _TEXT:  # all text already: the common case, no per-value call
            items = [None if v is None or pd.isna(v) else str(v) for v in items]
        return pa.array(items, type=pa.string())
    if kind in ("int", "float", "bool") and values.dtype != object:
        try:  # numpy and nullable pandas columns convert in one call (NaN/NA -> null)
            return pa.array(values, type=_ARROW_TYPES[kind], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    if kind == "json":
        values = values.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
    elif kind == "date":
        values = pd.to_datetime(values, format="ISO8601", errors="coerce").dt.date
    return pa.array(values.astype(object).where(values.notna(), None), type=_ARROW_TYPES[kind], from_pandas=True)


def to_batch(frame: gpd.GeoDataFrame, schema: ExportSchema, target: pa.Schema) -> pa.RecordBatch:
    """Convert one conformed page into an Arrow record batch of ``target`` (geometry as ISO WKB)."""
    arrays = [_column(frame[name], kind) for name, kind in schema.columns.items()]
    wkb = shapely.to_wkb(np.asarray(frame.geometry.array, dtype=object), flavor="iso")
    arrays.append(pa.array(list(wkb), type=pa.binary()))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _batches(frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, target: pa.Schema) -> Iterator[pa.RecordBatch]:
    for frame in frames:
        yield to_batch(frame, schema, target)


def write_ogr(frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, path: Path, driver: str) -> None:
    """Write pages to ``path`` with a GDAL driver through one Arrow stream (GDAL pulls page by page).

    One ``write_arrow`` call instead of ``append=True`` per page because FlatGeobuf cannot append.
    """
    target = arrow_schema(schema)
    reader = pa.RecordBatchReader.from_batches(target, _batches(frames, schema, target))
    options: dict[str, Any] = {"SPATIAL_INDEX": "YES"} if driver in ("GPKG", "FlatGeobuf") else {}
    pyogrio.write_arrow(
        reader,
        path,
        layer=schema.name,
        driver=driver,
        geometry_name=GEOMETRY,
        geometry_type=schema.geometry_type,
        crs=schema.crs.to_wkt(),
        encoding="UTF-8" if driver == "ESRI Shapefile" else None,
        layer_options=options,
    )


def _geo_metadata(schema: ExportSchema, bbox: list[float] | None) -> dict[str, Any]:
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": [schema.geometry_type],
        "crs": schema.crs.to_json_dict(),
    }
    if bbox is not None:
        column["bbox"] = bbox
    return {"version": "1.1.0", "primary_column": GEOMETRY, "columns": {GEOMETRY: column}}


def write_parquet(frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, path: Path) -> None:
    """Write pages to a GeoParquet 1.1 file with pyarrow, one row group per page.

    ``GeoDataFrame.to_parquet`` needs the whole frame in memory, so the ``geo`` metadata (GeoParquet spec)
    is written here, after the last page, when the total bbox is known.
    """
    target = arrow_schema(schema)
    # The geo metadata goes into the Arrow schema up front (some readers look there) and again, with the
    # bbox, into the file's key-value metadata at the end (where the GeoParquet spec puts it).
    described = target.with_metadata({"geo": json.dumps(_geo_metadata(schema, None))})
    bounds: np.ndarray | None = None
    with pq.ParquetWriter(path, described, compression="zstd") as writer:
        for frame in frames:
            writer.write_batch(to_batch(frame, schema, described))
            page = np.asarray(frame.total_bounds, dtype=float)
            if np.all(np.isfinite(page)):
                bounds = page if bounds is None else np.r_[np.fmin(bounds[:2], page[:2]), np.fmax(bounds[2:], page[2:])]
        bbox = None if bounds is None else [float(v) for v in bounds]
        writer.add_key_value_metadata({"geo": json.dumps(_geo_metadata(schema, bbox))})


def shapefile_field_names(names: Iterable[str]) -> dict[str, str]:
    """Map column names to unique dBASE field names of at most 10 characters, deterministically.

    Names that fit are kept; longer ones are cut to 10 characters, and on a clash cut shorter with a
    ``_2``, ``_3``... suffix, in column order.

    Examples
    --------
    >>> shapefile_field_names(["id", "investment_wan", "investment_total"])
    {'id': 'id', 'investment_wan': 'investment', 'investment_total': 'investme_2'}
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "field"
        short = base[:SHAPEFILE_FIELD_MAX]
        n = 1
        while short.lower() in taken:
            n += 1
            suffix = f"_{n}"
            short = base[: SHAPEFILE_FIELD_MAX - len(suffix)] + suffix
        taken.add(short.lower())
        out[name] = short
    return out


def _mapping_csv(mapping: Mapping[str, str], labels: Mapping[str, str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["shp_field", "name", "label"])
    for name, short in mapping.items():
        writer.writerow([short, name, labels.get(name, "")])
    return ("\ufeff" + buffer.getvalue()).encode()


def write_shapefile_zip(frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, path: Path) -> None:
    """Write a zipped shapefile (UTF-8 .cpg, .prj) plus ``<name>_fields.csv`` mapping short field names back.

    The shapefile is written next to ``path`` and removed once zipped.
    """
    mapping = shapefile_field_names(schema.columns)
    short = ExportSchema(
        name=schema.name,
        columns={mapping[n]: k for n, k in schema.columns.items()},
        geometry_type=schema.geometry_type,
        crs=schema.crs,
    )
    renamed = (frame.rename(columns=mapping) for frame in frames)
    shp = path.with_suffix(".shp")
    write_ogr(renamed, short, shp, "ESRI Shapefile")
    parts = [shp.with_suffix(s) for s in _SHP_SIDECARS]
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise InvalidFormat(f"GDAL did not write {missing} for the shapefile")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for part in parts:
            archive.write(part, arcname=f"{schema.name}{part.suffix}")
            part.unlink()
        archive.writestr(f"{schema.name}_fields.csv", _mapping_csv(mapping, schema.labels))


def write_file(frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, fmt: ExportFormat, path: Path) -> Path:
    """Write pages to ``path`` in a file format (gpkg, fgb, shp as zip, parquet) and return ``path``.

    Raises
    ------
    InvalidFormat
        If ``fmt`` is a streamed text format.
    """
    if fmt.name == "parquet":
        write_parquet(frames, schema, path)
    elif fmt.name == "shp":
        write_shapefile_zip(frames, schema, path)
    elif fmt.driver is not None:
        write_ogr(frames, schema, path, fmt.driver)
    else:
        raise InvalidFormat(f"{fmt.name} is streamed, not written to a file")
    return path
