"""The offline basemap: PNG tiles drawn from the county boundaries (WebMercatorQuad)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from geo.tms import tile_grid
from layers.basemap import BOUNDARY_LAYER, basemap_tile
from server.deps import StoreDep
from server.responses import ERROR_RESPONSES
from server.routers.tiles import PNG, X, Y, Z
from server.tilecache import TileCache, get_tile_cache, layer_versions, tile_key, tile_response

router = APIRouter(tags=["Basemap"], responses=ERROR_RESPONSES)


@router.get("/basemap/{z}/{x}/{y}.png", operation_id="basemapTile", summary="Offline basemap tile",
            responses={200: {"content": {PNG: {}}}, 304: {"description": "Not modified"}})  # fmt: skip
def basemap(request: Request, store: StoreDep, cache: Annotated[TileCache, Depends(get_tile_cache)],
            z: Z, x: X, y: Y) -> Response:  # fmt: skip
    """Return a basemap tile (county fills and outlines) that needs no internet."""
    grid = tile_grid("WebMercatorQuad", z, x, y)
    key = tile_key(request, layer_versions(store, [BOUNDARY_LAYER]), "basemap")
    return tile_response(request, cache, key, PNG, lambda: basemap_tile(store, grid))
