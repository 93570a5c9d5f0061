"""Turning generated records into GeoDataFrames shaped exactly like a catalogue layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd
from shapely.geometry import MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84
from layers.boundaries import county_name
from layers.models import Layer

PLAN_YEAR = 2025
"""The plan year the demo's schedules belong to."""

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

    A project not done at the plan year's end is carried over (结转): it belongs to that year and the next.
    ``investment_plan_wan`` is filled in from the history (:func:`annual_plan`). ``current`` is the replay
    of the feature's history (status, progress_pct, updated_at, start_date, completed_date; see
    :func:`layers.demo.history.replay`).
    """
    year = PLAN_YEAR
    started = current.get("start_date")
    carried = current.get("status") not in _DONE_OR_MONITORED
    return {
        "id": fid,
        "name": name,
        "county": county,
        "county_name": county_name(county),
        "township": township,
        "planned_start": planned_start(started, due_date, year),
        "due_date": due_date,
        "owner": owner,
        "plan_years": f"{year},{year + 1}" if carried else str(year),
        "investment_wan": investment_wan,
        "investment_plan_wan": None,
        "investment_done_wan": investment_done(investment_wan, current.get("progress_pct")),
        "is_demo": True,
        "source": source,
        **current,
    }


def planned_start(started: date | None, due: date | None, year: int) -> date:
    """Return a demo project's planned start: when it started, else 180 days before it is due (not before Jan 1)."""
    if started is not None:
        return started
    first = date(year, 1, 1)
    return max(first, due - timedelta(days=180)) if due else first


def investment_done(investment_wan: float | None, percent: Any) -> float | None:
    """Return the demo's cumulative investment completed: the total × reported percent, in 万元 to 0.1."""
    if _missing(investment_wan) or _missing(percent):
        return None
    return round(float(investment_wan or 0.0) * float(percent) / 100.0, 1)


def annual_plan(investment_wan: float | None, done_before: float, plan_years: str) -> dict[str, float] | None:
    """Return a demo project's annual planned investment: what is left at the start of the plan year, 70/30
    over a carry-over pair of years."""
    if investment_wan is None or _missing(investment_wan):
        return None
    left = max(investment_wan - done_before, 0.0)
    years = plan_years.split(",")
    if len(years) == 1:
        return {years[0]: round(left, 1)}
    first = round(left * 0.7, 1)
    return {years[0]: first, years[1]: round(left - first, 1)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


_DONE_OR_MONITORED = ("completed", "compliant", "non_compliant", "no_data")


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
