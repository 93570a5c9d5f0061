"""What goes in a plan tile: which features (thinned, capped), which properties, which colours."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

import geopandas as gpd
import shapely

from geo import mvt, render
from geo.storage.base import FeatureStore, Filter
from geo.storage.tilespec import MvtTile
from geo.tms import TileGrid
from geo.types import BBox
from layers.models import Layer
from layers.query import Selection, to_filter

TILE_PROPERTIES = ("id", "name", "status", "progress_pct", "county")
"""Properties a map needs; every other attribute stays in /items."""

THIN_PX = 8
"""Grid cell (screen pixels) in which features compete by envelope centre: the largest one is drawn."""

DEFAULT_COLOR = "#2563eb"
"""Colour of features of layers without status colours (e.g. the counties)."""


@dataclass
class TileStats:
    """Where a tile's time went (seconds) and how many features it holds."""

    query_s: float = 0.0
    clip_s: float = 0.0
    encode_s: float = 0.0
    features: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TileSpec:
    """How tiles are cut: buffer in tile units of a 4096 extent, and the feature cap per layer."""

    buffer: int = 64
    max_features: int = 20_000


def tile_properties(layer: Layer) -> list[str]:
    """Return the tile properties of ``layer`` (the ones of ``TILE_PROPERTIES`` it has)."""
    names = set(layer.field_names)
    return [p for p in TILE_PROPERTIES if p in names]


def _query_bbox(grid: TileGrid, spec: TileSpec, where: Filter) -> BBox | None:
    """Return the tile's buffered CRS84 box, cut by the selection's own bbox (None when they miss)."""
    minx, miny, maxx, maxy = grid.lonlat_bbox(spec.buffer / mvt.EXTENT)
    if where.bbox is not None:
        minx, miny = max(minx, where.bbox[0]), max(miny, where.bbox[1])
        maxx, maxy = min(maxx, where.bbox[2]), min(maxy, where.bbox[3])
    return (minx, miny, maxx, maxy) if minx <= maxx and miny <= maxy else None


def tile_candidates(
    store: FeatureStore, layer: Layer, grid: TileGrid, where: Filter, spec: TileSpec
) -> gpd.GeoDataFrame | None:
    """Read the features of one tile: R-tree window, thinned on a ``THIN_PX`` grid, capped, largest first."""
    bbox = _query_bbox(grid, spec, where)
    if bbox is None:
        return None
    cell = grid.pixel_size_deg() * THIN_PX
    return store.read_tile_candidates(
        layer.id, bbox, where=replace(where, bbox=None), columns=tile_properties(layer),
        limit=spec.max_features, cell=cell,
    )  # fmt: skip


def _properties(frame: gpd.GeoDataFrame, names: Sequence[str]) -> list[dict[str, object]]:
    """Return one property dict per row without nulls (MVT has no null values)."""
    columns = [frame[name].tolist() for name in names]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    nullable = [name for name in names if frame[name].isna().any()]
    for row in rows if nullable else ():
        for name in nullable:
            value = row[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                del row[name]
    return rows


def tile_layer(frame: gpd.GeoDataFrame, layer: Layer, grid: TileGrid, spec: TileSpec, extent: int) -> mvt.TileLayer:
    """Project, generalise and clip a layer's candidates into one MVT layer (y down, 0..extent)."""
    pixels = grid.to_pixels(frame.geometry.to_numpy(), extent)
    geoms, kept = mvt.prepare(pixels, extent, round(spec.buffer * extent / mvt.EXTENT))
    return mvt.TileLayer(layer.id, geoms, _properties(frame.loc[kept], tile_properties(layer)))


def vector_tile(
    store: FeatureStore, selections: Sequence[tuple[Layer, Filter]], grid: TileGrid, spec: TileSpec
) -> tuple[bytes, TileStats]:
    """Build the MVT of one tile for one or more layers; ``b""`` when no layer has a feature there.

    Examples
    --------
    >>> # data, stats = vector_tile(store, [(layer, Filter())], tile_grid("WebMercatorQuad", 12, 3333, 1718),
    >>> #                           TileSpec())
    """
    if store.native_mvt and str(grid.tms.id) == "WebMercatorQuad":
        return _native_tile(store, selections, grid, spec)
    stats = TileStats()
    parts = []
    for layer, where in selections:
        started = time.perf_counter()
        frame = tile_candidates(store, layer, grid, where, spec)
        stats.query_s += time.perf_counter() - started
        if frame is None or frame.empty:
            continue
        started = time.perf_counter()
        part = tile_layer(frame, layer, grid, spec, mvt.EXTENT)
        stats.clip_s += time.perf_counter() - started
        stats.features[layer.id] = len(part.geometries)
        parts.append(part)
    started = time.perf_counter()
    data = mvt.encode(parts)
    stats.encode_s = time.perf_counter() - started
    return data, stats


def _native_tile(
    store: FeatureStore, selections: Sequence[tuple[Layer, Filter]], grid: TileGrid, spec: TileSpec
) -> tuple[bytes, TileStats]:
    """Build the tile in the store (PostGIS ST_AsMVT): same candidates, properties and layer names."""
    stats, chunks = TileStats(), []
    started = time.perf_counter()
    for layer, where in selections:
        bbox = _query_bbox(grid, spec, where)
        if bbox is None:
            continue
        tile = MvtTile(
            layer.id, bbox, grid.xy_bounds, 3857, tuple(tile_properties(layer)),
            cell=grid.pixel_size_deg() * THIN_PX, limit=spec.max_features, extent=mvt.EXTENT, buffer=spec.buffer,
        )  # fmt: skip
        chunk, count = store.mvt_layer(layer.id, tile, replace(where, bbox=None))
        if count:
            stats.features[layer.id] = count
            chunks.append(chunk)
    stats.query_s = time.perf_counter() - started
    return b"".join(chunks), stats


def status_colors(layer: Layer, frame: gpd.GeoDataFrame) -> np.ndarray:
    """Return an RGBA colour per feature from the layer's status colours (``DEFAULT_COLOR`` otherwise)."""
    colors = layer.status_colors
    if "status" not in frame.columns or not colors:
        return np.tile(render.hex_rgba(DEFAULT_COLOR), (len(frame), 1))
    return np.array([render.hex_rgba(colors.get(str(s), DEFAULT_COLOR)) for s in frame["status"]], dtype=np.uint8)


def raster_tile(
    store: FeatureStore, layer: Layer, where: Filter, grid: TileGrid, spec: TileSpec, size: int = 256
) -> bytes | None:
    """Render one layer's tile to an RGBA PNG by status colour; None when the tile holds no feature."""
    frame = tile_candidates(store, layer, grid, where, spec)
    if frame is None or frame.empty:
        return None
    pixels = grid.to_pixels(frame.geometry.to_numpy(), size)
    fills = status_colors(layer, frame)
    geoms = shapely.clip_by_rect(pixels, -8, -8, size + 8, size + 8)
    keep = ~shapely.is_empty(geoms)
    if not keep.any():
        return None
    outline = layer.kind != "project"
    rgba = render.draw(geoms[keep], fills[keep], size, fill_alpha=60 if outline else 200, outline=True)
    return render.to_png(rgba)


def held_layers(store: FeatureStore, layers: Sequence[Layer]) -> list[Layer]:
    """Return the layers of ``layers`` that the store holds, in order."""
    held = set(store.layers())
    return [layer for layer in layers if layer.id in held]


def plan_selections(store: FeatureStore, layers: Sequence[Layer], selection: Selection) -> list[tuple[Layer, Filter]]:
    """Resolve one selection (status, county, as_of) against each of ``layers``."""
    return [(layer, to_filter(selection, layer, store)) for layer in layers]
