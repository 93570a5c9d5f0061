"""Cached tiles and their 304s answered before routing: a pure ASGI layer in front of the tile routes.

A map revalidates every tile it shows (``Cache-Control: no-cache``), so most tile requests end in a 304
or in bytes the tile cache already holds. Through FastAPI each costs ~1.5 ms of dependency resolution
(the /items filters a tile route accepts, lights, settings); here it costs the path match, the data
versions and one cache look-up. Only requests whose exact key (caller's view, data versions, path, sorted
query) is in the tile cache are answered here, so the route already accepted the same request before:
anything else (a miss, ``lights``, an unknown layer or raster, a POST) goes on to the routes unchanged.
Raster PNG tiles are answered the same way, keyed by the raster file's modification time. This layer
sits inside the authentication middleware, so 401s, the ``Vary`` it adds, CORS, gzip and the security
headers apply to these answers exactly as to the routes' own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from layers.errors import UnknownLayer, UnknownRaster
from layers.rasters import raster_spec, raster_version
from layers.registry import LayerRegistry
from layers.tiles import held_layers
from server.responses import MediaType
from server.tilecache import TileCache, cached_tile_response, layer_versions, tile_key

_LAYER = re.compile(
    r"^/collections/(?P<layer>[^/]+)/tiles/(?P<tms>[^/]+)/\d+/\d+/\d+$|^/tiles/(?P<xyz>[^/]+)/\d+/\d+/\d+\.mvt$"
)
_PLAN = re.compile(r"^/tiles/(?P<tms>[^/]+)/\d+/\d+/\d+$|^/tiles/plan/\d+/\d+/\d+\.mvt$")
_RASTER = re.compile(r"^/rasters/(?P<raster>[^/]+)/tiles/[^/]+/\d+/\d+/\d+\.png$")
_WEB_MERCATOR = "WebMercatorQuad"
_PREFIXES = ("/tiles/", "/collections/", "/rasters/")


@dataclass(frozen=True)
class _Address:
    """What a tile path names: one layer (``layer``) or the whole plan (None), in a tile matrix set."""

    layer: str | None
    tms: str


def _address(path: str) -> _Address | None:
    """Return the tile a vector-tile route path names, None for any other path (the route's own order)."""
    if path.startswith("/tiles/plan/") and (m := _PLAN.match(path)):
        return _Address(None, _WEB_MERCATOR)
    if m := _LAYER.match(path):
        return _Address(m["layer"], m["tms"]) if m["layer"] else _Address(m["xyz"], _WEB_MERCATOR)
    if m := _PLAN.match(path):
        return _Address(None, m["tms"])
    return None


def cached_raster_answer(request: Request, raster_id: str) -> Response | None:
    """Return the answer the raster tile route would give from the cache (200, 204 or 304), None when it must run."""
    app = request.app
    cache: TileCache | None = getattr(app.state, "tile_cache", None)
    if cache is None or cache.max_items <= 0:
        return None
    try:
        spec = raster_spec(raster_id, app.state.store)
        version = raster_version(spec, Path(app.state.settings.store.data_dir) / spec.filename)
    except (UnknownRaster, OSError):
        return None
    key = tile_key(request, version, "raster")
    return cached_tile_response(request, cache, key, MediaType.png.value, compress=False)


def cached_answer(request: Request) -> Response | None:
    """Return the answer the tile route would give from the cache (200, 204 or 304), None when it must run.

    Blocking: reads the data versions from the store.
    """
    if request.url.path.startswith("/rasters/"):
        raster = _RASTER.match(request.url.path)
        return cached_raster_answer(request, raster["raster"]) if raster else None
    address = _address(request.url.path)
    if address is None or "lights" in request.query_params:  # lit tiles change with the day: the route decides
        return None
    app = request.app
    cache: TileCache | None = getattr(app.state, "tile_cache", None)
    if cache is None or cache.max_items <= 0:
        return None
    registry: LayerRegistry = getattr(request.state, "registry", None) or app.state.registry
    store = app.state.store
    if address.layer is None:
        ids, kind = [layer.id for layer in held_layers(store, registry.projects())], f"plan:{address.tms}"
    else:
        try:
            ids, kind = [registry.get(address.layer).id], f"mvt:{address.tms}"
        except UnknownLayer:
            return None
    key = tile_key(request, layer_versions(store, ids), kind)
    return cached_tile_response(request, cache, key, MediaType.mvt.value, compress=True)


class CachedTiles:
    """Answer GET requests for cached vector tiles before routing (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the tile cache when it holds this request's tile, else pass the request on."""
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(_PREFIXES):
            request = Request(scope, receive)
            if scope["app"].state.store.local_reads:  # a GeoPackage: microseconds, no thread hop needed
                response = cached_answer(request)
            else:
                response = await anyio.to_thread.run_sync(cached_answer, request)
            if response is not None:
                state = scope["app"].state
                state.fast_tile_answers = getattr(state, "fast_tile_answers", 0) + 1
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
