"""OGC API - Tiles documents (OGC 20-057, TMS 2.0 tileset metadata): tileset lists and tileset metadata.

planmap's tile routes address tiles as ``{z}/{x}/{y}``, i.e. ``{tileMatrix}/{tileCol}/{tileRow}``; the
``item`` link templates name the variables, so clients substitute by name whatever the path order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from geo.tms import TMS_IDS, get_tms, tile_limits
from geo.types import BBox
from layers.models import Layer
from server.ogc import link
from server.responses import MediaType

REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TILESETS_MAP = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
REL_GEODATA = "http://www.opengis.net/def/rel/ogc/1.0/geodata"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_REGISTERED_TMS = {"WebMercatorQuad", "WorldCRS84Quad"}
"""Tile matrix sets in OGC's registry (http://www.opengis.net/def/tilematrixset/OGC/1.0/); CGCS2000Quad is ours."""

_GEOMETRY_DIMENSION = {"Point": 0, "MultiPoint": 0, "MultiLineString": 1, "MultiPolygon": 2}


@dataclass(frozen=True)
class TilesetKind:
    """One family of tilesets: its data type, tile media type and the path the tiles hang under."""

    data_type: str
    media: MediaType
    path: str
    title: str


VECTOR = TilesetKind("vector", MediaType.mvt, "/tiles", "矢量瓦片 · Vector tiles")
MAP = TilesetKind("map", MediaType.png, "/map/tiles", "地图瓦片 · Map tiles")


def tms_uri(tms_id: str) -> str | None:
    """Return the OGC registry URI of a tile matrix set, or None for planmap's own (CGCS2000Quad)."""
    return f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{tms_id}" if tms_id in _REGISTERED_TMS else None


def _links(base: str, prefix: str, kind: TilesetKind, tms_id: str) -> list[dict[str, Any]]:
    here = f"{base}{prefix}{kind.path}/{tms_id}"
    item = link(f"{here}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}", "item", kind.media, f"{kind.title} ({tms_id})")
    return [
        link(here, "self", MediaType.json, f"瓦片集 · Tileset ({tms_id})"),
        link(f"{base}/tileMatrixSets/{tms_id}", REL_TILING_SCHEME, MediaType.json, f"瓦片矩阵集 · {tms_id}"),
        {**item, "templated": True},
    ]


def tileset_summary(base: str, prefix: str, kind: TilesetKind, tms_id: str, title: str) -> dict[str, Any]:
    """Return one entry of a tileset list: title, data type, CRS, matrix set URI and links."""
    summary: dict[str, Any] = {
        "title": f"{title} · {kind.title} ({tms_id})",
        "dataType": kind.data_type,
        "crs": str(get_tms(tms_id).crs.root),
    }
    uri = tms_uri(tms_id)
    if uri:
        summary["tileMatrixSetURI"] = uri
    return {**summary, "links": _links(base, prefix, kind, tms_id)}


def tileset_list(here: str, base: str, prefix: str, kinds: Sequence[TilesetKind], title: str) -> dict[str, Any]:
    """Return the tileset list at URL ``here``: every kind of tiles in every served TMS."""
    return {
        "links": [link(here, "self", MediaType.json, f"{title} · 瓦片集列表 · Tilesets")],
        "tilesets": [tileset_summary(base, prefix, kind, tms_id, title) for kind in kinds for tms_id in TMS_IDS],
    }


def _layer_entry(base: str, layer: Layer, data_type: str, tms_id: str) -> dict[str, Any]:
    tms = get_tms(tms_id)
    return {
        "id": layer.id,
        "title": f"{layer.title_zh} · {layer.title_en}",
        "dataType": data_type,
        "geometryDimension": _GEOMETRY_DIMENSION[layer.geometry_type],
        "minTileMatrix": str(max(tms.minzoom, layer.min_zoom)),
        "maxTileMatrix": str(tms.maxzoom),
        "links": [link(f"{base}/collections/{layer.id}", REL_GEODATA, MediaType.json, layer.title_zh)],
    }


def tileset_doc(
    base: str, prefix: str, kind: TilesetKind, tms_id: str, title: str, layers: Sequence[Layer], bounds: BBox | None
) -> dict[str, Any]:
    """Return a tileset's metadata: the list entry plus bounding box, matrix limits and the layers it holds."""
    doc = tileset_summary(base, prefix, kind, tms_id, title)
    if bounds is not None:
        west, south, east, north = bounds
        doc["boundingBox"] = {"lowerLeft": [west, south], "upperRight": [east, north], "crs": CRS84}
        doc["tileMatrixSetLimits"] = [
            {
                "tileMatrix": t.matrix,
                "minTileRow": t.min_row,
                "maxTileRow": t.max_row,
                "minTileCol": t.min_col,
                "maxTileCol": t.max_col,
            }
            for t in tile_limits(tms_id, tuple(bounds))
        ]
    doc["layers"] = [_layer_entry(base, layer, kind.data_type, tms_id) for layer in layers]
    return doc


def union_bounds(boxes: Sequence[BBox | None]) -> BBox | None:
    """Return the box holding every given box (None when there is none)."""
    held = [b for b in boxes if b is not None]
    if not held:
        return None
    return (min(b[0] for b in held), min(b[1] for b in held), max(b[2] for b in held), max(b[3] for b in held))
