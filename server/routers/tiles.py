"""OGC API - Tiles: tile matrix sets, MVT per layer and for the whole plan, PNG renderings, TileJSON, styles."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from geo.textlists import split_list
from geo.tms import TMS_IDS, get_tms, tile_grid
from layers.query import Selection
from layers.tilejson import maplibre_style, tilejson
from layers.tiles import TileSpec, held_layers, plan_selections, raster_tile, vector_tile
from server.deps import FeatureQueryDep, LayerDep, RegistryDep, SettingsDep, StoreDep
from server.responses import ERROR_RESPONSES
from server.settings import Settings
from server.tilecache import TileCache, get_tile_cache, layer_versions, tile_key, tile_response

router = APIRouter(tags=["Tiles"], responses=ERROR_RESPONSES)

MVT = "application/vnd.mapbox-vector-tile"
PNG = "image/png"
WEB_MERCATOR = "WebMercatorQuad"
PLAN = "plan"

TmsId = Annotated[str, Path(description=f"Tile matrix set: one of {', '.join(TMS_IDS)}", examples=[WEB_MERCATOR])]
Z = Annotated[int, Path(description="Zoom level (tile matrix id)", examples=[12])]
X = Annotated[int, Path(description="Tile column", examples=[3333])]
Y = Annotated[int, Path(description="Tile row", examples=[1718])]
CacheDep = Annotated[TileCache, Depends(get_tile_cache)]

_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "The tile (Mapbox Vector Tile 2.1)"},
    204: {"description": "Empty tile: no feature of the selection in this tile"},
    304: {"description": "Not modified (the If-None-Match ETag still matches)"},
    404: {"description": "Unknown collection or tile matrix set, or tile outside the matrix"},
}
_PNG_RESPONSES = {**_TILE_RESPONSES, 200: {"content": {PNG: {}}, "description": "The tile as an RGBA PNG"}}


def _spec(settings: Settings) -> TileSpec:
    return TileSpec(buffer=settings.tiles.tile_buffer, max_features=settings.tiles.tile_max_features)


def _layer_mvt(request: Request, query: FeatureQueryDep, store: StoreDep, settings: SettingsDep,
               cache: CacheDep, tms: str, z: int, x: int, y: int) -> Response:  # fmt: skip
    grid = tile_grid(tms, z, x, y)
    key = tile_key(request, layer_versions(store, [query.layer.id]), f"mvt:{tms}")

    def build() -> bytes:
        return vector_tile(store, [(query.layer, query.to_filter(store))], grid, _spec(settings))[0]

    return tile_response(request, cache, key, MVT, build, compress=True)


@router.get("/tiles/plan/{z}/{x}/{y}.mvt", operation_id="planTileXYZ", responses=_TILE_RESPONSES,
            summary="Composite MVT of all project layers (WebMercatorQuad XYZ)")  # fmt: skip
def plan_tile_xyz(request: Request, store: StoreDep, registry: RegistryDep, settings: SettingsDep,
                  cache: CacheDep, z: Z, x: X, y: Y,
                  status: Annotated[str | None, Query(description="Status value(s), comma-separated")] = None,
                  county: Annotated[str | None, Query(description="County adcode(s), comma-separated")] = None,
                  as_of: Annotated[date | None, Query(description="Status as of this date (history replay)")] = None,
                  ) -> Response:  # fmt: skip
    """Return one composite tile holding every project layer (one MVT layer each)."""
    return plan_tile(request, store, registry, settings, cache, WEB_MERCATOR, z, x, y, status, county, as_of)


@router.get("/tiles/{collectionId}/{z}/{x}/{y}.mvt", operation_id="layerTileXYZ", responses=_TILE_RESPONSES,
            summary="Layer MVT (WebMercatorQuad XYZ)")  # fmt: skip
def layer_tile_xyz(request: Request, query: FeatureQueryDep, store: StoreDep, settings: SettingsDep,
                   cache: CacheDep, z: Z, x: X, y: Y) -> Response:  # fmt: skip
    """Return one layer's vector tile; accepts the same filters as /items."""
    return _layer_mvt(request, query, store, settings, cache, WEB_MERCATOR, z, x, y)


@router.get("/tiles/{collectionId}/{z}/{x}/{y}.png", operation_id="layerPngXYZ", responses=_PNG_RESPONSES,
            summary="Layer rendered to PNG by status colour (WebMercatorQuad XYZ)")  # fmt: skip
def layer_png_xyz(request: Request, query: FeatureQueryDep, store: StoreDep, settings: SettingsDep,
                  cache: CacheDep, z: Z, x: X, y: Y) -> Response:  # fmt: skip
    """Return one layer's tile drawn as PNG, for clients without vector-tile support."""
    return layer_png(request, query, store, settings, cache, WEB_MERCATOR, z, x, y)


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}", operation_id="layerTile",
            responses=_TILE_RESPONSES, summary="Layer MVT (OGC API - Tiles)")  # fmt: skip
def layer_tile(request: Request, query: FeatureQueryDep, store: StoreDep, settings: SettingsDep,
               cache: CacheDep, tileMatrixSetId: TmsId, z: Z, x: X, y: Y) -> Response:  # fmt: skip
    """Return one layer's vector tile in a tile matrix set; accepts the same filters as /items."""
    return _layer_mvt(request, query, store, settings, cache, tileMatrixSetId, z, x, y)


@router.get("/collections/{collectionId}/map/tiles/{tileMatrixSetId}/{z}/{x}/{y}", operation_id="layerMapTile",
            responses=_PNG_RESPONSES, summary="Layer rendered to PNG (OGC API - Maps tiles)")  # fmt: skip
def layer_png(request: Request, query: FeatureQueryDep, store: StoreDep, settings: SettingsDep,
              cache: CacheDep, tileMatrixSetId: TmsId, z: Z, x: X, y: Y) -> Response:  # fmt: skip
    """Return one layer's tile drawn as PNG by status colour."""
    grid = tile_grid(tileMatrixSetId, z, x, y)
    key = tile_key(request, layer_versions(store, [query.layer.id]), f"png:{tileMatrixSetId}")

    def build() -> bytes:
        return raster_tile(store, query.layer, query.to_filter(store), grid, _spec(settings)) or b""

    return tile_response(request, cache, key, PNG, build)


@router.get("/tiles/{tileMatrixSetId}/{z}/{x}/{y}", operation_id="planTile", responses=_TILE_RESPONSES,
            summary="Composite MVT of all project layers (OGC API - Tiles, dataset tiles)")  # fmt: skip
def plan_tile(request: Request, store: StoreDep, registry: RegistryDep, settings: SettingsDep,
              cache: CacheDep, tileMatrixSetId: TmsId, z: Z, x: X, y: Y,
              status: Annotated[str | None, Query(description="Status value(s), comma-separated")] = None,
              county: Annotated[str | None, Query(description="County adcode(s), comma-separated")] = None,
              as_of: Annotated[date | None, Query(description="Status as of this date (history replay)")] = None,
              ) -> Response:  # fmt: skip
    """Return one composite tile holding every project layer (one MVT layer each)."""
    grid = tile_grid(tileMatrixSetId, z, x, y)
    layers = held_layers(store, registry.projects())
    key = tile_key(request, layer_versions(store, [layer.id for layer in layers]), f"plan:{tileMatrixSetId}")
    selection = Selection(status=tuple(split_list(status)), county=tuple(split_list(county)), as_of=as_of)

    def build() -> bytes:
        return vector_tile(store, plan_selections(store, layers, selection), grid, _spec(settings))[0]

    return tile_response(request, cache, key, MVT, build, compress=True)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/tiles/{tileMatrixSetId}/tilejson.json", operation_id="planTileJSON", summary="TileJSON of the plan")
def plan_tilejson(request: Request, registry: RegistryDep, tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return the TileJSON 3.0 document of the composite plan tiles."""
    url = f"{_base(request)}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}"
    return tilejson(registry.projects(), url, get_tms(tileMatrixSetId), None, "planmap plan")


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json", operation_id="layerTileJSON",
            summary="TileJSON of a layer")  # fmt: skip
def layer_tilejson(request: Request, layer: LayerDep, store: StoreDep, tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return the TileJSON 3.0 document of a layer's vector tiles (absolute URLs, query kept)."""
    query = f"?{request.url.query}" if request.url.query else ""
    url = f"{_base(request)}/collections/{layer.id}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}{query}"
    return tilejson([layer], url, get_tms(tileMatrixSetId), store.bounds(layer.id), layer.id)


@router.get("/collections/{collectionId}/styles/default", operation_id="layerStyle", summary="MapLibre style")
def layer_style(request: Request, layer: LayerDep) -> dict[str, Any]:
    """Return a MapLibre style drawing the layer by status colour from its WebMercatorQuad tiles."""
    return maplibre_style(layer, f"{_base(request)}/collections/{layer.id}/tiles/{WEB_MERCATOR}/tilejson.json")


@router.get("/tileMatrixSets", operation_id="tileMatrixSets", summary="Tile matrix sets")
def tile_matrix_sets(request: Request) -> dict[str, Any]:
    """List the served tile matrix sets."""
    items = [_tms_summary(request, tms_id) for tms_id in TMS_IDS]
    return {"tileMatrixSets": items}


def _tms_summary(request: Request, tms_id: str) -> dict[str, Any]:
    tms = get_tms(tms_id)
    href = f"{_base(request)}/tileMatrixSets/{tms_id}"
    return {"id": tms_id, "title": tms.title, "crs": str(tms.crs.root),
            "links": [{"rel": "self", "type": "application/json", "href": href}]}  # fmt: skip


@router.get("/tileMatrixSets/{tileMatrixSetId}", operation_id="tileMatrixSet", summary="One tile matrix set")
def tile_matrix_set(tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return a tile matrix set definition (OGC TileMatrixSet 2.0 JSON)."""
    return get_tms(tileMatrixSetId).model_dump(mode="json", exclude_none=True)
