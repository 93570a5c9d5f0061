"""What goes in a plan tile: which features (thinned, capped), which properties, which colours."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

import geopandas as gpd
import shapely

from geo import mvt, render
from geo.storage.base import FeatureStore, Filter, MvtTile
from geo.storage.generic import mvt_layer_from_frame
from geo.tms import TileGrid
from geo.types import BBox
from layers.lights import FEATURE_PROPERTIES, LightsAt, feature_lights, has_lights
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
    """How long the store took to make a tile (seconds) and how many features each layer holds."""

    query_s: float = 0.0
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
    columns = tile_properties(layer)
    where = replace(where, bbox=None)
    return store.read_tile_candidates(layer.id, bbox, where=where, columns=columns, limit=spec.max_features, cell=cell)


def _lit_layer(store: FeatureStore, layer: Layer, tile: MvtTile, where: Filter, lights: LightsAt) -> tuple[bytes, int]:
    """Make a project layer's MVT layer in Python, its features carrying their lights."""
    frame = store.read_tile_candidates(
        layer.id, tile.bbox, where=where, columns=list(tile.properties), limit=tile.limit, cell=tile.cell
    )
    if frame.empty:
        return b"", 0
    found = feature_lights(store, layer, frame["id"], lights)
    frame = frame.assign(**{c: found[c].to_numpy() for c in FEATURE_PROPERTIES})
    return mvt_layer_from_frame(frame, replace(tile, properties=(*tile.properties, *FEATURE_PROPERTIES)))


def vector_tile(
    store: FeatureStore,
    selections: Sequence[tuple[Layer, Filter]],
    grid: TileGrid,
    spec: TileSpec,
    lights: LightsAt | None = None,
) -> tuple[bytes, TileStats]:
    """Build the MVT of one tile for one or more layers; ``b""`` when no layer has a feature there.

    Each layer is made by the store (``FeatureStore.mvt_layer``: the same candidates, properties and
    layer names whichever store makes it); single-layer MVT messages concatenate into one tile. With
    ``lights``, scheduled project layers are made in Python so their features carry
    ``light``, ``lag_pts`` and ``elapsed_pct`` (which change with the day, so cache keys must hold it).

    Examples
    --------
    >>> # data, stats = vector_tile(store, [(layer, Filter())], tile_grid("WebMercatorQuad", 12, 3333, 1718),
    >>> #                           TileSpec())
    """
    stats, chunks = TileStats(), []
    started = time.perf_counter()
    for layer, where in selections:
        bbox = _query_bbox(grid, spec, where)
        if bbox is None:
            continue
        tile = MvtTile(
            layer.id,
            bbox,
            grid,
            tuple(tile_properties(layer)),
            cell=grid.pixel_size_deg() * THIN_PX,
            limit=spec.max_features,
            extent=mvt.EXTENT,
            buffer=spec.buffer,
        )
        where = replace(where, bbox=None)
        if lights is not None and has_lights(layer):
            chunk, count = _lit_layer(store, layer, tile, where, lights)
        else:
            chunk, count = store.mvt_layer(layer.id, tile, where)
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
