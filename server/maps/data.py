"""What the maps draw: a layer's features with their display status, filtered and in the base map's datum."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd

from geo import geojson
from geo.crs import CoordSys, convert_frame
from geo.storage.base import FeatureStore, Filter
from layers.boundaries import view_bounds
from layers.models import Layer, StatusSpec
from layers.progress import status_as_of
from layers.query import Selection, to_filter
from server.maps.i18n import OVERDUE, Lang, alias

_POPUP_SKIP = {"id", "name", "county", "status", "progress_pct", "is_demo", "source", "updated_at", "latest_month"}


@dataclass(frozen=True)
class MapQuery:
    """What a map shows: filters from the URL, the replay date, the datum of the base map and the language.

    ``status`` holds display statuses, which include the derived ``overdue``; empty tuples select all.
    ``plan_year`` keeps that plan year's projects (None: every project).
    """

    county: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    as_of: date | None = None
    coordsys: CoordSys = "wgs84"
    lang: Lang = "zh"
    ids: tuple[str, ...] | None = None
    plan_year: int | None = None


def can_be_overdue(layer: Layer) -> bool:
    """Return whether a layer's projects have due dates and a completed state (so can be overdue)."""
    return "due_date" in layer.field_names and "completed" in {s.value for s in layer.statuses}


def display_statuses(layer: Layer) -> tuple[StatusSpec, ...]:
    """Return the statuses a map shows for a layer: the catalogue's, plus ``overdue`` where it applies."""
    return layer.statuses + ((OVERDUE,) if can_be_overdue(layer) else ())


def display_status(store: FeatureStore, layer: Layer, frame: pd.DataFrame, as_of: date | None) -> pd.Series:
    """Return each feature's status on ``as_of`` (today when None), ``overdue`` when past due and not done."""
    if "status" not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    status = frame["status"] if as_of is None else status_as_of(store, layer, frame["id"], as_of)
    status = pd.Series(status.to_numpy(), index=frame.index, dtype=object)
    if can_be_overdue(layer):
        done = layer.target.done_statuses if layer.target else ("completed",)
        day = (as_of or date.today()).isoformat()
        late = frame["due_date"].notna() & (frame["due_date"].astype(str) < day) & ~status.isin(done)
        status[late] = OVERDUE.value
    return status


def layer_filter(store: FeatureStore, layer: Layer, query: MapQuery) -> Filter:
    """Return the store filter for the query's county and plan year (status is matched after derivation)."""
    return to_filter(Selection(county=query.county, ids=query.ids, plan_year=query.plan_year), layer, store)


def layer_frame(store: FeatureStore, layer: Layer, query: MapQuery) -> gpd.GeoDataFrame:
    """Return the layer's public attributes, ``_status`` (display status) and geometry, filtered by the query."""
    frame = store.read(layer.id, layer_filter(store, layer, query))
    public = [f.name for f in layer.fields if f.public and f.name in frame.columns]
    frame = frame[[*public, frame.geometry.name]]
    frame["_status"] = display_status(store, layer, frame, query.as_of)
    if query.status:
        frame = frame[frame["_status"].isin(query.status)]
    if query.coordsys != "wgs84":
        frame = convert_frame(frame, "wgs84", query.coordsys)
    return frame


def to_geojson(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of a lon/lat frame (any datum), written as the API writes features.

    Every column but the geometry goes into ``properties`` (``id`` too: the map scripts read it there);
    missing values are null and coordinates keep ``DEGREE_DECIMALS`` (see :func:`geo.geojson.round_coordinates`).
    """
    names = [c for c in frame.columns if c != frame.geometry.name]
    geoms = geojson.round_coordinates(np.asarray(frame.geometry.array, dtype=object), geojson.DEGREE_DECIMALS)
    return {"type": "FeatureCollection", "features": geojson.encode_features(frame, geoms, properties=names)}


def popup_fields(layer: Layer, lang: Lang) -> list[dict[str, str]]:
    """Return the key fields a popup lists: name, alias and unit."""
    return [
        {"name": f.name, "alias": alias(f, lang), "unit": f.unit or ""}
        for f in layer.fields
        if f.public and f.name not in _POPUP_SKIP and f.type != "json"
    ]


map_bounds = view_bounds
"""The extent a map fits: the selected counties, else the whole city (CRS84); see ``layers.boundaries``."""
