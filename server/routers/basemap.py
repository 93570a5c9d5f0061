"""The offline basemap: PNG tiles drawn from the county boundaries (WebMercatorQuad)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from layers.basemap import BOUNDARY_LAYER, basemap_tile
from server.deps_tiles import TileContextDep, XYZDep
from server.responses import ERROR_RESPONSES, MediaType
from server.tilecache import layer_versions, tile_key, tile_response

router = APIRouter(tags=["Basemap"], responses=ERROR_RESPONSES)

PNG = MediaType.png.value


@router.get(
    "/basemap/{z}/{x}/{y}.png",
    operation_id="basemapTile",
    summary="Offline basemap tile",
    responses={200: {"content": {PNG: {}}}, 304: {"description": "Not modified"}},
)
def basemap(tile: XYZDep, ctx: TileContextDep) -> Response:
    """Return a basemap tile (county fills and outlines) that needs no internet."""
    grid = tile.grid()
    key = tile_key(ctx.request, layer_versions(ctx.store, [BOUNDARY_LAYER]), "basemap")
    return tile_response(ctx.request, ctx.cache, key, PNG, lambda: basemap_tile(ctx.store, grid))
