"""Turning generated records into GeoDataFrames shaped exactly like a catalogue layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd
from shapely.geometry import MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84
from layers.boundaries import county_name
from layers.models import Layer

DEMO = "generated demo data"
"""Every demo record's ``source`` starts with this."""


def demo_source(what_is_real: str) -> str:
    """Return a ``source`` text for generated records, saying what in them is real.

    Examples
    --------
    >>> demo_source("real project name; approximate geometry")
    'generated demo data: real project name; approximate geometry'
    """
    return f"{DEMO}: {what_is_real}"


def project_fields(
    *,
    fid: str,
    name: str,
    county: str,
    township: str,
    due_date: date | None,
    owner: str,
    investment_wan: float | None,
    source: str,
    current: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the common project fields of one demo record.

    ``current`` is the replay of the feature's history (status, progress_pct, updated_at, start_date,
    completed_date; see :func:`layers.demo.history.replay`).
    """
    return {
        "id": fid,
        "name": name,
        "county": county,
        "county_name": county_name(county),
        "township": township,
        "due_date": due_date,
        "owner": owner,
        "investment_wan": investment_wan,
        "is_demo": True,
        "source": source,
        **current,
    }


def _multi(geom: BaseGeometry, geometry_type: str) -> BaseGeometry:
    if geometry_type == "MultiPolygon" and geom.geom_type == "Polygon":
        return MultiPolygon([geom])
    if geometry_type == "MultiLineString" and geom.geom_type == "LineString":
        return MultiLineString([geom])
    return geom


def _column(values: list[Any], kind: str) -> pd.Series:
    if kind == "int":
        return pd.Series(np.asarray(values, dtype=np.int64))
    if kind == "float":
        return pd.Series(np.asarray([np.nan if v is None else v for v in values], dtype=np.float64))
    if kind == "bool":
        return pd.Series(np.asarray(values, dtype=bool))
    series = pd.Series(np.empty(len(values), dtype=object))
    series[:] = values  # keeps lists (json) and dates as Python objects
    return series


def make_frame(
    layer: Layer, records: Sequence[Mapping[str, Any]], geometries: Sequence[BaseGeometry]
) -> gpd.GeoDataFrame:
    """Return a WGS84 GeoDataFrame whose columns are exactly ``layer.field_names`` plus ``geometry``.

    Columns get the catalogue types: int64, float64 (None -> NaN), bool, and Python objects for str,
    date (``datetime.date`` or None) and json (lists/dicts). Polygons and lines are wrapped into the
    layer's multi-geometry type.

    Raises
    ------
    ValueError
        If a record lacks a catalogue field or has one the catalogue does not define, or a geometry is
        invalid or of the wrong type.
    """
    names = layer.field_names
    for record in records:
        if set(record) != set(names):
            missing, extra = sorted(set(names) - set(record)), sorted(set(record) - set(names))
            raise ValueError(f"{layer.id} record {record.get('id')!r}: missing {missing}, unexpected {extra}")
    data = {f.name: _column([r[f.name] for r in records], f.type) for f in layer.fields}
    geoms = np.empty(len(geometries), dtype=object)
    geoms[:] = [_multi(g, layer.geometry_type) for g in geometries]
    wrong = [g.geom_type for g in geoms if g.geom_type != layer.geometry_type or not g.is_valid]
    if wrong:
        raise ValueError(f"{layer.id}: invalid or wrongly typed geometries {sorted(set(wrong))}")
    frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
    return frame[[*names, "geometry"]]
