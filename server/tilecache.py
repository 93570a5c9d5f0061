"""Tile responses: an in-process LRU of tile bytes keyed by data version, with 304 and 204 answers.

The cache key holds the data versions of the layers a tile shows, so a progress update is visible on the
very next request and no tile is ever stale; the HTTP side (ETag, ``If-None-Match``, ``Cache-Control``)
follows the policy of :mod:`server.caching`.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from fastapi import Request, Response

from geo.storage.base import FeatureStore, Filter
from geo.tms import TileGrid
from layers.lights import LightsAt
from layers.models import Layer
from layers.tiles import TileSpec, vector_tile
from server.caching import cache_headers, none_match, not_modified, query_key, strong_etag, view_of
from server.responses import MediaType
from server.settings import TileSettings

EMPTY = b""
QUICK_BUILD_S = 0.020
"""Tiles whose kind usually builds in less CPU time than this may be built on the event loop (see ``BuildTimes``)."""

_create_lock = threading.Lock()


class BuildTimes:
    """How much CPU time tiles of each kind (layer, tile matrix set, zoom) took to build lately: a moving average.

    On the embedded store a tile is CPU work in this process whichever thread builds it, and building it in
    a worker thread costs more than the hop: the thread and the event loop then take the interpreter lock
    from each other at every SQLite and GEOS call (measured with one worker at 16 connections on z12-z16
    tiles of 1.5-2 ms: 115 % CPU for 0.7x the requests of building them on the loop). So a kind that lately
    built in under ``QUICK_BUILD_S`` of CPU is built on the event loop; a kind not seen yet, or heavier (low
    zooms of large layers), in a thread, so that it does not hold up the loop's other answers for long.
    The time is the building thread's CPU time, not the wall clock, which waits for the interpreter lock
    grow when the worker is busy.
    """

    WEIGHT = 0.2
    """Weight of the newest build in the average."""

    def __init__(self) -> None:
        self._seconds: dict[tuple[str, str, int], float] = {}

    def quick(self, kind: tuple[str, str, int]) -> bool:
        """Return whether tiles of ``kind`` have lately built in under ``QUICK_BUILD_S``."""
        seconds = self._seconds.get(kind)
        return seconds is not None and seconds < QUICK_BUILD_S

    def record(self, kind: tuple[str, str, int], seconds: float) -> None:
        """Add one build's duration to the average of its kind."""
        old = self._seconds.get(kind)
        self._seconds[kind] = seconds if old is None else old + self.WEIGHT * (seconds - old)


class TileCache:
    """A thread-safe LRU of tile bytes (``b""`` for an empty tile) holding at most ``max_items`` tiles.

    ``builds`` bounds the tiles built at once: building is CPU work, and more threads of one worker than
    it has cores only contend for the interpreter and evict each other's pages; the others wait their turn.
    """

    def __init__(self, max_items: int, builds: int = 2) -> None:
        self.max_items = max_items
        self.builds = threading.BoundedSemaphore(builds)
        self.build_times = BuildTimes()
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        """Return the cached tile, or None on a miss."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def peek(self, key: str) -> bytes | None:
        """Return the cached tile without counting a hit or a miss (None when absent)."""
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: bytes) -> None:
        """Store a tile, evicting the least recently used ones beyond ``max_items``."""
        if self.max_items <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        """Return the number of cached tiles."""
        return len(self._items)


def get_tile_cache(request: Request) -> TileCache:
    """Return the application's tile cache, created on first use with ``settings.tiles.tile_cache_items``."""
    state = request.app.state
    with _create_lock:
        if getattr(state, "tile_cache", None) is None:
            tiles = state.settings.tiles
            state.tile_cache = TileCache(tiles.tile_cache_items, tiles.tile_builds)
    cache: TileCache = state.tile_cache
    return cache


def layer_versions(store: FeatureStore, layer_ids: Sequence[str]) -> str:
    """Return the data versions of the layers a tile shows, as one string."""
    return ",".join(f"{lid}={store.version(lid)}" for lid in layer_ids)


def tile_key(request: Request, versions: str, kind: str) -> str:
    """Return the cache key: kind, the caller's view, data versions, the path (tile address) and the sorted query.

    The view (public or token holder) is part of the key so that a tile built for a token holder, whose
    filters may name non-public fields, is never answered to an anonymous caller from the cache.
    """
    return f"{kind}|{view_of(request)}|{versions}|{request.url.path}|{query_key(request)}"


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _validators(request: Request, key: str, compress: bool) -> tuple[bool, dict[str, str]]:
    """Return whether the client gets the gzip bytes, and the ETag and caching headers of that answer."""
    gzipped = compress and _accepts_gzip(request)
    etag = strong_etag(key + ("|gzip" if gzipped else ""))
    return gzipped, cache_headers(etag, vary="Accept-Encoding" if compress else None)


def tile_response(
    request: Request,
    cache: TileCache,
    key: str,
    media_type: str,
    build: Callable[[], bytes],
    compress: bool = False,
    bounded: bool = True,
) -> Response:
    """Answer a tile: 304 for a matching If-None-Match, else the cached or built bytes (204 when empty).

    With ``compress`` (vector tiles) the cache holds the gzip-compressed tile, built once, and clients
    that accept gzip get it as is (``Content-Encoding: gzip``, so the gzip middleware leaves it alone).
    ``bounded`` builds take a turn among the cache's ``builds`` (threads); a build on the event loop
    does not wait for one (the loop builds one tile at a time anyway).
    """
    gzipped, headers = _validators(request, key, compress)
    if none_match(request.headers.get("if-none-match"), headers["ETag"]):
        return not_modified(headers)
    data = cache.get(key)
    if data is None:
        with cache.builds if bounded else nullcontext():
            data = cache.peek(key)  # built by a request that went first
            if data is None:
                data = build()
                data = gzip.compress(data, compresslevel=6, mtime=0) if compress and data else data
                cache.put(key, data)
    return _answer(data, media_type, headers, gzipped, compress)


def cached_tile_response(
    request: Request, cache: TileCache, key: str, media_type: str, compress: bool
) -> Response | None:
    """Answer a tile from the cache alone, exactly as :func:`tile_response` would; None when it is not cached."""
    data = cache.peek(key)
    if data is None:
        return None
    cache.get(key)  # counts the hit and refreshes the entry's place in the LRU
    gzipped, headers = _validators(request, key, compress)
    if none_match(request.headers.get("if-none-match"), headers["ETag"]):
        return not_modified(headers)
    return _answer(data, media_type, headers, gzipped, compress)


def _answer(data: bytes, media_type: str, headers: dict[str, str], gzipped: bool, compress: bool) -> Response:
    """Return the 200 (or 204 for an empty tile) carrying ``data`` as the client accepts it."""
    if not data:
        return Response(status_code=204, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    elif compress:
        data = gzip.decompress(data)
    return Response(content=data, media_type=media_type, headers=headers)


def tile_spec(settings: TileSettings) -> TileSpec:
    """Return how tiles are cut, from the tile settings."""
    return TileSpec(buffer=settings.tile_buffer, max_features=settings.tile_max_features)


@dataclass(frozen=True)
class LayerTile:
    """One layer's vector tile as a route or the fast path asks for it: selection, address, lights."""

    layer: Layer
    where: Filter
    tms_id: str
    grid: TileGrid
    lights: LightsAt | None = None
    day: str = ""
    """The cache-key part saying for which day the lights are (``""`` without lights)."""

    @property
    def kind(self) -> tuple[str, str, int]:
        """Return what :class:`BuildTimes` averages over: the layer, tile matrix set and zoom."""
        return (self.layer.id, self.tms_id, self.grid.z)


def layer_mvt_response(
    request: Request, store: FeatureStore, cache: TileCache, spec: TileSpec, tile: LayerTile, bounded: bool = True
) -> Response:
    """Answer one layer's vector tile (cached, 304, built; 204 when empty). Blocking: reads versions, builds.

    Builds are timed into ``cache.build_times`` (see :class:`BuildTimes`); ``bounded`` as in :func:`tile_response`.
    """
    key = tile_key(request, layer_versions(store, [tile.layer.id]), f"mvt:{tile.tms_id}{tile.day}")

    def build() -> bytes:
        started = time.thread_time()
        data = vector_tile(store, [(tile.layer, tile.where)], tile.grid, spec, tile.lights)[0]
        cache.build_times.record(tile.kind, time.thread_time() - started)
        return data

    return tile_response(request, cache, key, MediaType.mvt.value, build, compress=True, bounded=bounded)
