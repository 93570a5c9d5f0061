"""Tile responses: an in-process LRU keyed by data version, strong ETags, 304 and 204 answers.

Caching policy: every tile carries a strong ETag computed from the data versions of the layers it shows,
the tile address, the format and the (sorted) query parameters, and ``Cache-Control: no-cache``: clients
and proxies may keep tiles but revalidate every time, which costs one cheap 304. Because the cache key
holds the data version, a progress update is visible on the very next request; no tile is ever stale.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from fastapi import Request, Response

from geo.storage.base import FeatureStore

CACHE_CONTROL = "no-cache"
EMPTY = b""

_create_lock = threading.Lock()


class TileCache:
    """A thread-safe LRU of tile bytes (``b""`` for an empty tile) holding at most ``max_items`` tiles."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
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
            state.tile_cache = TileCache(state.settings.tiles.tile_cache_items)
    cache: TileCache = state.tile_cache
    return cache


def layer_versions(store: FeatureStore, layer_ids: Sequence[str]) -> str:
    """Return the data versions of the layers a tile shows, as one string."""
    return ",".join(f"{lid}={store.version(lid)}" for lid in layer_ids)


def tile_key(request: Request, versions: str, kind: str) -> str:
    """Return the cache key: data versions, the request path (tile address) and the sorted query."""
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    return f"{kind}|{versions}|{request.url.path}|{query}"


def etag_for(key: str) -> str:
    """Return the strong ETag of a cache key."""
    return '"' + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + '"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def tile_response(
    request: Request, cache: TileCache, key: str, media_type: str, build: Callable[[], bytes], compress: bool = False
) -> Response:
    """Answer a tile: 304 for a matching If-None-Match, else the cached or built bytes (204 when empty).

    With ``compress`` (vector tiles) the cache holds the gzip-compressed tile, built once, and clients
    that accept gzip get it as is (``Content-Encoding: gzip``, so the gzip middleware leaves it alone).
    """
    gzipped = compress and _accepts_gzip(request)
    etag = etag_for(key + ("|gzip" if gzipped else ""))
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if compress:
        headers["Vary"] = "Accept-Encoding"
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    data = cache.get(key)
    if data is None:
        data = build()
        data = gzip.compress(data, compresslevel=6, mtime=0) if compress and data else data
        cache.put(key, data)
    if not data:
        return Response(status_code=204, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    elif compress:
        data = gzip.decompress(data)
    return Response(content=data, media_type=media_type, headers=headers)
