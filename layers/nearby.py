"""Projects near a field team: every project feature within a radius of a phone's position, nearest first."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from geo.crs import to_wgs84
from geo.geojson import DEGREE_DECIMALS
from geo.storage.base import FeatureStore
from geo.types import CoordSys
from layers.errors import InvalidQueryParameter
from layers.models import Layer
from layers.registry import LayerRegistry

MAX_RADIUS_M = 50_000
COORDSYS: tuple[CoordSys, ...] = ("wgs84", "cgcs2000", "gcj02", "bd09")
_ATTRIBUTES = ("id", "name", "status", "progress_pct")


class NearbyProject(BaseModel):
    """One project feature near the point."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Feature id")
    layer: str = Field(description="Layer id")
    layer_title_zh: str = Field(description="Layer title")
    name: str | None = Field(description="Feature name")
    status: str | None = Field(description="Current status")
    progress_pct: float | None = Field(description="Current progress (0-100)")
    distance_m: float = Field(description="Geodesic distance to the nearest point of the geometry (0 inside)")
    bearing_deg: float = Field(description="Bearing from the point toward that nearest point, clockwise from north")
    href: str | None = Field(default=None, description="Link to the feature")


class NearbyResult(BaseModel):
    """Projects within ``radius_m`` of a point, nearest first."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "lon": 112.9454,
                    "lat": 27.8313,
                    "input": {"lon": 112.9512, "lat": 27.8281, "coordsys": "gcj02"},
                    "radius_m": 2000,
                    "layers": ["farmland", "road-junctions"],
                    "count": 1,
                    "projects": [
                        {
                            "id": "road-junctions-012",
                            "layer": "road-junctions",
                            "layer_title_zh": "危险路口整治",
                            "name": "建设路口",
                            "status": "in_progress",
                            "progress_pct": 40.0,
                            "distance_m": 412.7,
                            "bearing_deg": 81.3,
                            "href": "/collections/road-junctions/items/road-junctions-012",
                        }
                    ],
                }
            ]
        },
    )

    lon: float = Field(description="The query point in WGS84 (converted from the input coordinate system), 7 decimals")
    lat: float = Field(description="The query point in WGS84, 7 decimals")
    input: dict[str, float | str] = Field(description="The point as given, with its coordinate system")
    radius_m: float = Field(description="Search radius in metres")
    layers: list[str] = Field(description="Layers searched")
    count: int = Field(description="Number of projects returned")
    projects: list[NearbyProject] = Field(description="Nearest first")


def resolve_layers(registry: LayerRegistry, ids: Sequence[str] | None) -> list[Layer]:
    """Return the project layers named (all project layers when ``ids`` is empty).

    Raises ``UnknownLayer`` for an unknown id and ``InvalidQueryParameter`` for a context layer.
    """
    if not ids:
        return registry.projects()
    layers = [registry.get(i) for i in dict.fromkeys(ids)]
    context = [layer.id for layer in layers if layer.kind != "project"]
    if context:
        raise InvalidQueryParameter(f"layers: {context} are context layers, not projects")
    return layers


def to_wgs84_point(lon: float, lat: float, coordsys: str) -> tuple[float, float]:
    """Check and convert a lon/lat point to WGS84 (GCJ-02 and BD-09 by the public inverse formula).

    Raises ``InvalidQueryParameter`` naming ``lon``, ``lat`` or ``coordsys`` when out of range or unknown.
    """
    if coordsys not in COORDSYS:
        raise InvalidQueryParameter(f"coordsys: {coordsys!r} is not one of {', '.join(COORDSYS)}")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidQueryParameter(f"lon: {lon} is outside -180..180")
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidQueryParameter(f"lat: {lat} is outside -90..90")
    x, y = to_wgs84(lon, lat, coordsys)
    return float(np.asarray(x)), float(np.asarray(y))


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _projects(
    store: FeatureStore, layer: Layer, lon: float, lat: float, radius_m: float, limit: int
) -> list[NearbyProject]:
    """Ask the store for the layer's nearest features (PostGIS measures in SQL, the GeoPackage on a cached index)."""
    columns = [c for c in _ATTRIBUTES if c in layer.field_names]
    frame = store.nearest(layer.id, lon, lat, radius_m, limit, columns=columns, geometry=False)
    # Plain lists per column: a field team's query returns a few dozen rows, and per-row pandas access
    # would cost more than the search itself.
    values = {c: frame[c].tolist() if c in frame.columns else [None] * len(frame) for c in _ATTRIBUTES}
    distances, bearings = frame["distance_m"].tolist(), frame["bearing_deg"].tolist()
    return [
        NearbyProject(
            id=str(values["id"][k]),
            layer=layer.id,
            layer_title_zh=layer.title_zh,
            name=_text(values["name"][k]),
            status=_text(values["status"][k]),
            progress_pct=_number(values["progress_pct"][k]),
            distance_m=round(float(distances[k]), 2),
            bearing_deg=round(float(bearings[k]), 2),
        )
        for k in range(len(frame))
    ]


def find_nearby(
    store: FeatureStore,
    layers: Sequence[Layer],
    lon: float,
    lat: float,
    radius_m: float = 1000,
    *,
    coordsys: str = "wgs84",
    limit: int = 50,
    href_template: str | None = None,
) -> NearbyResult:
    """Return the project features within ``radius_m`` of a point across ``layers``, nearest first.

    Parameters
    ----------
    store, layers : where to look.
    lon, lat : the point in ``coordsys`` (``wgs84``, ``cgcs2000``, ``gcj02`` or ``bd09``).
    radius_m : 1 .. 50,000 metres, geodesic, to the nearest point of each geometry (0 inside a polygon).
    limit : 1 .. 1000 projects at most; ties in distance are broken by layer then id.
    href_template : e.g. ``"/collections/{layer}/items/{id}"``, formatted into each project's ``href``.

    Raises
    ------
    InvalidQueryParameter
        Naming the parameter that is out of range.
    """
    if not (math.isfinite(radius_m) and 1 <= radius_m <= MAX_RADIUS_M):
        raise InvalidQueryParameter(f"radius_m: {radius_m} is outside 1..{MAX_RADIUS_M}")
    if not 1 <= limit <= 1000:
        raise InvalidQueryParameter(f"limit: {limit} is outside 1..1000")
    wlon, wlat = to_wgs84_point(lon, lat, coordsys)
    found = [p for layer in layers for p in _projects(store, layer, wlon, wlat, radius_m, limit)]
    found.sort(key=lambda p: (p.distance_m, p.layer, p.id))
    if href_template:
        found = [p.model_copy(update={"href": href_template.format(layer=p.layer, id=p.id)}) for p in found]
    return NearbyResult(
        lon=round(wlon, DEGREE_DECIMALS),
        lat=round(wlat, DEGREE_DECIMALS),
        input={"lon": lon, "lat": lat, "coordsys": coordsys},
        radius_m=radius_m,
        layers=[layer.id for layer in layers],
        count=min(len(found), limit),
        projects=found[:limit],
    )
