"""Projects near a field team's position (WGS84, CGCS2000, GCJ-02 or BD-09), nearest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from geo.textlists import split_list
from layers.nearby import MAX_RADIUS_M, NearbyResult, find_nearby, resolve_layers
from server.deps import RegistryDep, StoreDep
from server.ogc import url
from server.responses import ERROR_RESPONSES

router = APIRouter(tags=["Nearby"], responses=ERROR_RESPONSES)


@router.get("/nearby", operation_id="getNearby", summary="Projects within a radius of a point")
def get_nearby(
    request: Request,
    store: StoreDep,
    registry: RegistryDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude of the point, degrees", examples=[112.9454])],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude of the point, degrees", examples=[27.8313])],
    coordsys: Annotated[
        Literal["wgs84", "cgcs2000", "gcj02", "bd09"],
        Query(description="Coordinate system of lon/lat: phones' GPS is wgs84; AMap/Tencent gcj02; Baidu bd09"),
    ] = "wgs84",
    radius_m: Annotated[
        float, Query(ge=1, le=MAX_RADIUS_M, description="Search radius in metres (to each geometry's nearest point)")
    ] = 1000,
    layers: Annotated[str | None, Query(description="Layer ids, comma-separated (default every project layer)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most projects to return")] = 50,
) -> NearbyResult:
    """Return project features within `radius_m` of the point, nearest first, with distance and bearing."""
    chosen = resolve_layers(registry, split_list(layers))
    template = url(request, "/collections/{layer}/items/{id}")
    return find_nearby(store, chosen, lon, lat, radius_m, coordsys=coordsys, limit=limit, href_template=template)
