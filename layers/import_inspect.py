"""What an uploaded data file holds, before it is imported: its layers, CRS, likely datum, columns and a preview.

The import page shows this so that a planner can check where the rows would land (as given, and corrected
from GCJ-02 or BD-09) and map the columns and status values before the dry run. The file is read with the
importer's own reader (:func:`geo.readers.read_source`), so what is shown is what the import will see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd
import pyogrio
import pyproj
import shapely
from shapely.geometry import mapping as geojson_geometry

from geo.complexity import ReadLimits
from geo.crs import convert_geometry, transform_geometry
from geo.crsguess import datum_offsets, guess_crs, guess_datum
from geo.errors import InvalidDataFile
from geo.readers import SourceData, detect_format, read_source
from geo.spreadsheet import is_workbook
from geo.storage.base import FeatureStore
from geo.types import CoordSys
from geo.zipsafe import ZipLimits, zip_members
from layers.boundaries import load_boundaries
from layers.import_fields import is_missing, resolve_mapping
from layers.import_geometry import CANDIDATE_CRS, crs_label, plan_area
from layers.models import Layer

PREVIEW_ROWS = 200
"""Rows of the file drawn on the preview map."""
MAX_DISTINCT = 30
"""A column with at most this many distinct values offers them for value mapping."""
CORRECTIONS: tuple[CoordSys, ...] = ("gcj02", "bd09")
_DATASETS = (".shp", ".gpkg", ".geojson", ".json", ".fgb")
_NAME_HINTS = {
    "gcj02": re.compile(r"gcj|amap|gaode|高德|腾讯|tencent|火星", re.IGNORECASE),
    "bd09": re.compile(r"bd-?09|baidu|百度", re.IGNORECASE),
}
_GUESS_MARGIN_DEG = 0.1


@dataclass(frozen=True)
class ReadOptions:
    """How to read the file: its original name, which layer of it, the text encoding and the limits."""

    name: str
    file_layer: str | None = None
    encoding: str | None = None
    zip_limits: ZipLimits | None = None
    read_limits: ReadLimits | None = None


def value_text(value: Any) -> str:
    """Return a cell as the text a value mapping matches (as :func:`layers.import_mapping.translate` does)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()


def file_layers(path: Path, name: str) -> list[str]:
    """Return the layers a file offers (GeoPackage layers, datasets in a zip); empty when it has one only."""
    fmt = detect_format(path, name)
    if fmt == "gpkg":
        try:
            return [str(row[0]) for row in pyogrio.list_layers(path) if row[1] is not None]
        except (pyogrio.errors.DataSourceError, OSError) as exc:
            raise InvalidDataFile(f"cannot read the gpkg file: {exc}") from exc
    if fmt == "zip":
        members = zip_members(path)
        if is_workbook(members):
            return []
        return [PurePosixPath(m).stem for m in members if PurePosixPath(m).suffix.lower() in _DATASETS]
    return []


def read_file(path: Path, options: ReadOptions, layers: list[str]) -> SourceData:
    """Read the file (the chosen layer, else its first) as the importer does."""
    chosen = options.file_layer or (layers[0] if len(layers) > 1 else None)
    return read_source(
        path,
        name_hint=options.name,
        layer=chosen,
        encoding=options.encoding,
        zip_limits=options.zip_limits,
        limits=options.read_limits,
    )


def _counties(store: FeatureStore) -> gpd.GeoDataFrame:
    return store.read("counties") if "counties" in store.layers() else load_boundaries()


def _source_crs(geoms: np.ndarray, declared: pyproj.CRS | None, area: Any) -> tuple[pyproj.CRS | None, str | None]:
    """Return the file's CRS and whether it was declared (``file``) or inferred, as the importer decides it."""
    if declared is not None:
        return declared, "file"
    minx, miny, maxx, maxy = area.bounds
    loose = (minx - _GUESS_MARGIN_DEG, miny - _GUESS_MARGIN_DEG, maxx + _GUESS_MARGIN_DEG, maxy + _GUESS_MARGIN_DEG)
    guessed = guess_crs(geoms, CANDIDATE_CRS, loose)
    if guessed is None:
        coords = shapely.get_coordinates(geoms)
        degrees = len(coords) and (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
        guessed = pyproj.CRS.from_user_input(CANDIDATE_CRS[0]) if degrees else None
    return guessed, "inferred" if guessed is not None else None


def _id_column(columns: list[str], layer: Layer) -> str | None:
    mapping = resolve_mapping(columns, layer, None)[0]
    return next((c for c, f in mapping.items() if f == "id"), None)


def _datum(
    frame: gpd.GeoDataFrame, wgs: np.ndarray, crs: pyproj.CRS | None, store: FeatureStore, layer: Layer, name: str
) -> dict[str, Any]:
    """Guess whether lon/lat are WGS84, GCJ-02 or BD-09: from stored features with the same ids, else names."""
    if crs is None or not crs.is_geographic:
        return {"guess": "wgs84", "basis": "projected", "offsets_m": {}, "matched": 0}
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    id_column = _id_column(columns, layer)
    if id_column is not None and layer.id in store.layers():
        stored = store.read(layer.id)
        known = dict(zip(stored["id"].astype(str), shapely.centroid(np.asarray(stored.geometry.array)), strict=True))
        ids = [None if is_missing(v) else value_text(v) for v in frame[id_column].tolist()]
        pairs = [(g, known[i]) for g, i in zip(shapely.centroid(wgs), ids, strict=True) if i in known and g is not None]
        pairs = [(a, b) for a, b in pairs if not (a.is_empty or b is None or b.is_empty)]
        if pairs:
            here, there = shapely.get_coordinates([a for a, _ in pairs]), shapely.get_coordinates([b for _, b in pairs])
            offsets = datum_offsets(here[:, 0], here[:, 1], there[:, 0], there[:, 1])
            guess = guess_datum(offsets)
            if guess is not None:
                return {"guess": guess, "basis": "stored", "offsets_m": offsets, "matched": len(pairs)}
    text = " ".join([name, *columns])
    for datum, pattern in _NAME_HINTS.items():
        if pattern.search(text):
            return {"guess": datum, "basis": "name", "offsets_m": {}, "matched": 0}
    return {"guess": "wgs84", "basis": "none", "offsets_m": {}, "matched": 0}


def _features(geoms: np.ndarray, props: list[dict[str, Any]]) -> dict[str, Any]:
    feats = [
        {"type": "Feature", "geometry": None if g is None else geojson_geometry(g), "properties": p}
        for g, p in zip(geoms, props, strict=True)
    ]
    return {"type": "FeatureCollection", "features": feats}


def _distinct(frame: pd.DataFrame, columns: list[str]) -> dict[str, list[str]]:
    out = {}
    for column in columns:
        values = sorted({value_text(v) for v in frame[column].tolist() if not is_missing(v)})
        if 0 < len(values) <= MAX_DISTINCT:
            out[column] = values
    return out


def inspect_file(store: FeatureStore, layer: Layer, path: Path, options: ReadOptions) -> dict[str, Any]:
    """Return what the file holds, for the import page.

    Returns
    -------
    dict
        ``format``, ``file_layers`` (and the ``file_layer`` read), ``rows``, ``columns``, ``values`` (distinct
        values of columns with few of them), ``crs`` and ``crs_source``, ``datum`` (the guessed ``wgs84``,
        ``gcj02`` or ``bd09``, its ``basis`` and median ``offsets_m`` from stored features with the same ids),
        ``warnings`` and ``preview``: the first ``PREVIEW_ROWS`` rows as GeoJSON in WGS84 as given (with
        their values and whether they lie in the plan area) and as corrected from GCJ-02 and BD-09.

    Raises
    ------
    InvalidDataFile, FileTooLarge, FileTooComplex
        When the file cannot be read.
    """
    layers = file_layers(path, options.name)
    src = read_file(path, options, layers)
    frame = src.frame
    area = plan_area(_counties(store))
    geoms = np.asarray(frame.geometry.array, dtype=object)
    present = ~shapely.is_missing(geoms)
    crs, crs_source = _source_crs(geoms[present], src.crs, area)
    wgs = geoms.copy()
    if crs is not None and not crs.equals(pyproj.CRS.from_epsg(4326)):
        wgs[present] = transform_geometry(geoms[present], crs, 4326)
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    head = slice(0, PREVIEW_ROWS)
    shown = wgs[head]
    inside = [bool(g is not None and shapely.intersects(area, g)) for g in shown]
    props = [
        {"_row": n + 1, "_inside": inside[n], **{c: None if is_missing(v) else value_text(v) for c, v in row.items()}}
        for n, row in enumerate(frame[columns].iloc[head].to_dict("records"))
    ]
    geographic = crs is not None and crs.is_geographic
    corrected = {
        d: _features(convert_geometry(shown, d, "wgs84") if geographic else shown, [{"_row": p["_row"]} for p in props])
        for d in CORRECTIONS
    }
    return {
        "format": src.format,
        "file_layers": layers,
        "file_layer": src.layer,
        "encoding": src.encoding,
        "rows": len(frame),
        "columns": columns,
        "values": _distinct(frame, columns),
        "crs": crs_label(crs) if crs is not None else None,
        "crs_source": crs_source,
        "geographic": geographic,
        "datum": _datum(frame, wgs, crs, store, layer, options.name),
        "warnings": list(src.warnings),
        "preview": {"as_is": _features(shown, props), **corrected},
    }


def mapping_choices(layer: Layer, columns: list[str], values: dict[str, list[str]]) -> dict[str, Any]:
    """Return what the mapping table offers: the layer's fields (Chinese aliases), the file's columns, the
    mapping the importer would make by itself, the status vocabulary and each column's distinct values."""
    auto, ignored, _, _ = resolve_mapping(columns, layer, None)
    status_column = next((c for c, f in auto.items() if f == "status"), None)
    return {
        "layer": layer.id,
        "title_zh": layer.title_zh,
        "fields": [
            {"name": f.name, "alias_zh": f.alias_zh, "alias_en": f.alias_en, "type": f.type, "unit": f.unit}
            for f in layer.fields
        ],
        "statuses": [{"value": s.value, "label_zh": s.label_zh, "label_en": s.label_en} for s in layer.statuses],
        "columns": columns,
        "auto": auto,
        "ignored": ignored,
        "status_column": status_column,
        "values": values,
    }
