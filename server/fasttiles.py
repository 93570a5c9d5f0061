"""Tiles answered before routing: a pure ASGI layer in front of the tile routes.

A map revalidates every tile it shows (``Cache-Control: no-cache``), so most tile requests end in a 304
or in bytes the tile cache already holds. Through FastAPI each costs ~1.5 ms of dependency resolution
(the /items filters a tile route accepts, lights, settings); here it costs the path match, the data
versions and one cache look-up. Two kinds of request are answered here:

* **cached**: those whose exact key (caller's view, data versions, path, sorted query) is in the tile
  cache, so the route already accepted the same request before; raster PNG tiles too, keyed by the raster
  file's modification time;
* **plain layer tiles**: a layer's vector tile asked for without any query parameter (what a map asks for),
  built here by the same code the route runs (:func:`server.tilecache.layer_mvt_response`) with the
  selection an empty query makes, when the layer, tile matrix set and tile exist.

On the embedded store cached answers, and tiles of a kind that lately built in under 20 ms of CPU
(:class:`server.tilecache.BuildTimes`), are answered on the event loop: building them in a worker thread
costs more CPU than it saves (the thread and the loop take the interpreter lock from each other). Everything
else is answered in a worker thread.

Anything else (a filter, ``lights``, the plan's composite tiles, an unknown layer or tile, a POST, a build
that fails) goes on to the routes unchanged, which give their own answer or error. This layer sits inside
the authentication middleware, so 401s, the ``Vary`` it adds, CORS, gzip and the security headers apply to
these answers exactly as to the routes' own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from geo.errors import GeoError
from geo.tms import tile_grid
from layers.errors import LayerError, UnknownLayer, UnknownRaster
from layers.query import Selection, to_filter
from layers.rasters import raster_spec, raster_version
from layers.registry import LayerRegistry
from layers.tiles import held_layers
from server.deps import get_registry
from server.responses import MediaType
from server.tilecache import (
    LayerTile,
    TileCache,
    cached_tile_response,
    get_tile_cache,
    layer_mvt_response,
    layer_versions,
    tile_key,
    tile_spec,
)

_LAYER = re.compile(
    r"^/collections/(?P<layer>[^/]+)/tiles/(?P<tms>[^/]+)/\d+/\d+/\d+$|^/tiles/(?P<xyz>[^/]+)/\d+/\d+/\d+\.mvt$"
)
_PLAN = re.compile(r"^/tiles/(?P<tms>[^/]+)/\d+/\d+/\d+$|^/tiles/plan/\d+/\d+/\d+\.mvt$")
_ZXY = re.compile(r"/(\d+)/(\d+)/(\d+)(?:\.mvt)?$")
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


def plain_tile(request: Request) -> LayerTile | None:
    """Return the layer tile a request without any query parameter names; None for any other request or when
    the layer, tile matrix set or tile does not exist (the route gives that error)."""
    if request.url.query:
        return None
    address = _address(request.url.path)
    zxy = _ZXY.search(request.url.path)
    if address is None or address.layer is None or zxy is None:
        return None
    store = request.app.state.store
    try:
        layer = get_registry(request).get(address.layer)
        grid = tile_grid(address.tms, *(int(v) for v in zxy.groups()))
        return LayerTile(layer, to_filter(Selection(), layer, store), address.tms, grid)
    except (LayerError, GeoError):
        return None


def built_answer(request: Request, tile: LayerTile, bounded: bool = True) -> Response | None:
    """Return a plain layer tile's answer (200, 204 or 304) as the route gives it; None when building fails
    (the route then gives its error answer). Blocking: reads the data version and builds the tile."""
    app = request.app
    cache, spec = get_tile_cache(request), tile_spec(app.state.settings.tiles)
    try:
        return layer_mvt_response(request, app.state.store, cache, spec, tile, bounded)
    except (LayerError, GeoError):
        return None


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


def _tile_path(path: str) -> bool:
    """Return whether ``path`` is a tile route's (others go on without a look at the cache or a thread hop)."""
    return path.startswith(_PREFIXES) and (_address(path) is not None or _RASTER.match(path) is not None)


def _counted(request: Request, response: Response | None, name: str) -> Response | None:
    """Count an answer given here in ``app.state.<name>`` (what tests and operators read) and return it."""
    if response is not None:
        state = request.app.state
        setattr(state, name, getattr(state, name, 0) + 1)
    return response


def fast_answer(request: Request) -> Response | None:
    """Return the cached answer, else a plain layer tile's, else None (the route answers). Blocking."""
    response = _counted(request, cached_answer(request), "fast_tile_answers")
    if response is not None:
        return response
    tile = plain_tile(request)
    return None if tile is None else _counted(request, built_answer(request, tile), "fast_tile_builds")


async def local_answer(request: Request) -> Response | None:
    """Answer as :func:`fast_answer` on the embedded store: the cache look-up, and a plain layer tile whose kind
    builds quickly (``BuildTimes``), on the event loop; other plain layer tiles in a worker thread."""
    response = _counted(request, cached_answer(request), "fast_tile_answers")
    if response is not None:
        return response
    tile = plain_tile(request)
    if tile is None:
        return None
    if get_tile_cache(request).build_times.quick(tile.kind):
        response = built_answer(request, tile, bounded=False)
    else:
        response = await anyio.to_thread.run_sync(built_answer, request, tile)
    return _counted(request, response, "fast_tile_builds")


class CachedTiles:
    """Answer GET requests for cached tiles and plain layer tiles before routing (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer here when this request is cached or a plain layer tile, else pass the request on."""
        if scope["type"] == "http" and scope["method"] == "GET" and _tile_path(scope["path"]):
            request = Request(scope, receive)
            if scope["app"].state.store.local_reads:
                response = await local_answer(request)
            else:
                response = await anyio.to_thread.run_sync(fast_answer, request)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
