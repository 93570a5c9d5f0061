"""OGC API - Tiles: tile matrix sets, MVT per layer and for the whole plan, PNG renderings, TileJSON, styles."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response

from geo.tms import TMS_IDS, get_tms
from layers.lights import LightsAt
from layers.registry import LayerRegistry
from layers.tilejson import maplibre_style, tilejson
from layers.tiles import held_layers, plan_selections, raster_tile, vector_tile
from server.deps import FeatureQuery, FeatureQueryDep, LayerDep, PlanYear, RegistryDep, StoreDep, TileLightsDep
from server.deps_tiles import (
    WEB_MERCATOR,
    PlanTileDep,
    PlanTileParams,
    TileAddress,
    TileContext,
    TileContextDep,
    TileDep,
    TmsId,
    XYZDep,
)
from server.responses import ERROR_RESPONSES, MediaType
from server.tilecache import LayerTile, layer_mvt_response, layer_versions, tile_key, tile_response

router = APIRouter(tags=["Tiles"], responses=ERROR_RESPONSES)

MVT = MediaType.mvt.value
PNG = MediaType.png.value

_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "The tile (Mapbox Vector Tile 2.1)"},
    204: {"description": "Empty tile: no feature of the selection in this tile"},
    304: {"description": "Not modified (the If-None-Match ETag still matches)"},
    404: {"description": "Unknown collection or tile matrix set, or tile outside the matrix"},
}
_PNG_RESPONSES = {**_TILE_RESPONSES, 200: {"content": {PNG: {}}, "description": "The tile as an RGBA PNG"}}


def _lights(plan: PlanYear | None, as_of: date | None) -> tuple[LightsAt | None, str]:
    """Return the lights tiles carry (None unless asked for) and the cache-key part saying for which day."""
    if plan is None:
        return None, ""
    day = (as_of or date.today()).isoformat()
    return LightsAt(plan.year, plan.rules, as_of), f":lights:{day}"


def _layer_mvt(ctx: TileContext, query: FeatureQuery, tile: TileAddress, plan: PlanYear | None) -> Response:
    grid = tile.grid()
    lights, day = _lights(plan, query.selection.as_of)
    selection = LayerTile(query.layer, query.to_filter(ctx.store), tile.tms_id, grid, lights, day)
    return layer_mvt_response(ctx.request, ctx.store, ctx.cache, ctx.spec(), selection)


def _layer_png(ctx: TileContext, query: FeatureQuery, tile: TileAddress) -> Response:
    grid = tile.grid()
    key = tile_key(ctx.request, layer_versions(ctx.store, [query.layer.id]), f"png:{tile.tms_id}")

    def build() -> bytes:
        return raster_tile(ctx.store, query.layer, query.to_filter(ctx.store), grid, ctx.spec()) or b""

    return tile_response(ctx.request, ctx.cache, key, PNG, build)


def _plan_mvt(
    ctx: TileContext, registry: LayerRegistry, filters: PlanTileParams, tile: TileAddress, plan: PlanYear | None
) -> Response:
    grid = tile.grid()
    layers = held_layers(ctx.store, registry.projects())
    lights, day = _lights(plan, filters.as_of)
    versions = layer_versions(ctx.store, [layer.id for layer in layers])
    key = tile_key(ctx.request, versions, f"plan:{tile.tms_id}{day}")
    selection = filters.selection()

    def build() -> bytes:
        return vector_tile(ctx.store, plan_selections(ctx.store, layers, selection), grid, ctx.spec(), lights)[0]

    return tile_response(ctx.request, ctx.cache, key, MVT, build, compress=True)


@router.get(
    "/tiles/plan/{z}/{x}/{y}.mvt",
    operation_id="planTileXYZ",
    responses=_TILE_RESPONSES,
    summary="Composite MVT of all project layers (WebMercatorQuad XYZ)",
)
def plan_tile_xyz(
    tile: XYZDep, ctx: TileContextDep, registry: RegistryDep, filters: PlanTileDep, plan: TileLightsDep
) -> Response:
    """Return one composite tile holding every project layer (one MVT layer each)."""
    return _plan_mvt(ctx, registry, filters, tile, plan)


@router.get(
    "/tiles/{collectionId}/{z}/{x}/{y}.mvt",
    operation_id="layerTileXYZ",
    responses=_TILE_RESPONSES,
    summary="Layer MVT (WebMercatorQuad XYZ)",
)
def layer_tile_xyz(tile: XYZDep, query: FeatureQueryDep, ctx: TileContextDep, plan: TileLightsDep) -> Response:
    """Return one layer's vector tile; accepts the same filters as /items."""
    return _layer_mvt(ctx, query, tile, plan)


@router.get(
    "/tiles/{collectionId}/{z}/{x}/{y}.png",
    operation_id="layerPngXYZ",
    responses=_PNG_RESPONSES,
    summary="Layer rendered to PNG by status colour (WebMercatorQuad XYZ)",
)
def layer_png_xyz(tile: XYZDep, query: FeatureQueryDep, ctx: TileContextDep) -> Response:
    """Return one layer's tile drawn as PNG, for clients without vector-tile support."""
    return _layer_png(ctx, query, tile)


@router.get(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
    operation_id="layerTile",
    responses=_TILE_RESPONSES,
    summary="Layer MVT (OGC API - Tiles)",
)
def layer_tile(tile: TileDep, query: FeatureQueryDep, ctx: TileContextDep, plan: TileLightsDep) -> Response:
    """Return one layer's vector tile in a tile matrix set; accepts the same filters as /items."""
    return _layer_mvt(ctx, query, tile, plan)


@router.get(
    "/collections/{collectionId}/map/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
    operation_id="layerMapTile",
    responses=_PNG_RESPONSES,
    summary="Layer rendered to PNG (OGC API - Maps tiles)",
)
def layer_png(tile: TileDep, query: FeatureQueryDep, ctx: TileContextDep) -> Response:
    """Return one layer's tile drawn as PNG by status colour."""
    return _layer_png(ctx, query, tile)


@router.get(
    "/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
    operation_id="planTile",
    responses=_TILE_RESPONSES,
    summary="Composite MVT of all project layers (OGC API - Tiles, dataset tiles)",
)
def plan_tile(
    tile: TileDep, ctx: TileContextDep, registry: RegistryDep, filters: PlanTileDep, plan: TileLightsDep
) -> Response:
    """Return one composite tile holding every project layer (one MVT layer each)."""
    return _plan_mvt(ctx, registry, filters, tile, plan)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/tiles/{tileMatrixSetId}/tilejson.json", operation_id="planTileJSON", summary="TileJSON of the plan")
def plan_tilejson(request: Request, registry: RegistryDep, tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return the TileJSON 3.0 document of the composite plan tiles."""
    url = f"{_base(request)}/tiles/{tileMatrixSetId}/{{z}}/{{x}}/{{y}}"
    return tilejson(registry.projects(), url, get_tms(tileMatrixSetId), None, "planmap plan")


@router.get(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json",
    operation_id="layerTileJSON",
    summary="TileJSON of a layer",
)
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
    links = [{"rel": "self", "type": "application/json", "href": href}]
    return {"id": tms_id, "title": tms.title, "crs": str(tms.crs.root), "links": links}


@router.get("/tileMatrixSets/{tileMatrixSetId}", operation_id="tileMatrixSet", summary="One tile matrix set")
def tile_matrix_set(tileMatrixSetId: TmsId) -> dict[str, Any]:
    """Return a tile matrix set definition (OGC TileMatrixSet 2.0 JSON)."""
    return get_tms(tileMatrixSetId).model_dump(mode="json", exclude_none=True)
