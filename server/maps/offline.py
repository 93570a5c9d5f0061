"""The offline download's plan as JSON: the URLs a phone fetches for an area and their size before it does."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from geo.storage.base import FeatureStore
from geo.tms import tile_grid
from layers.basemap import basemap_tile
from layers.models import Layer
from layers.offline_area import AreaSpec, OfflineArea, estimate_tile_bytes, offline_area
from server.maps.data import MapQuery, layer_frame, to_geojson

TILE_TEMPLATE = "/basemap/{z}/{x}/{y}.png"
PAGE_BYTES = 4096
"""Size of one report page as served (3.5-4 KB measured on the demo data); pages are not rendered to count them."""


def _counties(area: OfflineArea) -> tuple[str, ...]:
    if area.spec.county is not None:
        return (area.spec.county,)
    found = {str(c) for frame in area.projects.values() if "county" in frame for c in frame["county"].dropna()}
    return tuple(sorted(found))


def _project_data(store: FeatureStore, area: OfflineArea, layers: list[Layer], plan_year: int | None) -> list[dict]:
    """Return each layer's map-data URL for the area, its project count and its exact size in bytes."""
    counties = _counties(area)
    rows = []
    for layer in layers:
        if layer.id not in area.projects:
            continue
        query = MapQuery(county=counties, plan_year=plan_year)
        body = json.dumps(to_geojson(layer_frame(store, layer, query)), ensure_ascii=False, separators=(",", ":"))
        params = {"county": ",".join(counties)}
        url = f"/map/data/{quote(layer.id, safe='')}?{urlencode(params)}"
        rows.append({"layer": layer.id, "count": len(area.projects[layer.id]), "url": url, "bytes": len(body.encode())})
    return rows


def offline_plan(store: FeatureStore, layers: list[Layer], spec: AreaSpec, plan_year: int | None) -> dict[str, Any]:
    """Return what to download for the area: project data, report pages and basemap tiles, with sizes."""
    area = offline_area(store, layers, spec)
    data = _project_data(store, area, layers, plan_year)
    pages = [
        f"/map/report/{quote(layer_id, safe='')}/{quote(str(fid), safe='')}"
        for layer_id, frame in area.projects.items()
        for fid in frame["id"]
    ]
    tile_bytes = estimate_tile_bytes(area.tiles, lambda t: basemap_tile(store, tile_grid("WebMercatorQuad", *t)))
    sizes = {"projects": sum(row["bytes"] for row in data), "pages": PAGE_BYTES * len(pages), "tiles": tile_bytes}
    return {
        "county": spec.county,
        "name": area.name,
        "bbox": list(area.bbox),
        "minZoom": spec.min_zoom,
        "maxZoom": spec.max_zoom,
        "projects": {"count": area.project_count, "bytes": sizes["projects"], "layers": data},
        "pages": {"count": len(pages), "bytes": sizes["pages"], "urls": pages},
        "tiles": {
            "count": len(area.tiles),
            "bytes": tile_bytes,
            "byZoom": {str(z): n for z, n in area.tiles_by_zoom().items()},
            "template": TILE_TEMPLATE,
            "list": [list(t) for t in area.tiles],
        },
        "totalBytes": sum(sizes.values()),
    }
