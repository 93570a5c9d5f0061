"""Mapbox Vector Tile 2.1 encoding of geometries already projected into tile pixel space (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import shapely

from geo.mvt_encode import Columns, columns_of, encode_tile

EXTENT = 4096
"""MVT coordinate units per tile side."""


@dataclass(frozen=True)
class TileLayer:
    """One MVT layer: a name, geometries in tile units (0..extent, y down) and their properties: one dict
    per feature, or columns (one array per property, None or NaN where a feature lacks it)."""

    name: str
    geometries: np.ndarray
    properties: Sequence[Mapping[str, Any]] | Columns


def prepare(geoms: np.ndarray, extent: int, buffer: int, min_size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Generalise pixel-space geometries for a tile: simplify, shrink tiny shapes to points, clip.

    Parameters
    ----------
    geoms : geometries in tile units (0..extent, y down), e.g. from ``TileGrid.to_pixels``.
    extent : tile units per side; the simplification tolerance is half a 256-px screen pixel.
    buffer : tile units kept outside each edge so that strokes join across tiles.
    min_size : polygons and lines whose envelope is smaller than this many screen pixels become their
        representative point, so they stay visible instead of collapsing when coordinates are rounded.

    Returns
    -------
    (geometries, kept) : the generalised non-empty geometries and the boolean mask of inputs kept.
    """
    pixel = extent / 256.0
    geoms = np.asarray(geoms, dtype=object)
    kinds = shapely.get_type_id(geoms)
    bounds = shapely.bounds(geoms)
    lower, upper = bounds[:, :2], bounds[:, 2:]
    size = np.nanmax(upper - lower, axis=1)
    tiny = (kinds != 0) & (kinds != 4) & (size < min_size * pixel)
    out = geoms.copy()
    if tiny.any():
        out[tiny] = shapely.point_on_surface(geoms[tiny])
    big = ~tiny & (kinds != 0) & (kinds != 4)
    if big.any():
        out[big] = shapely.simplify(geoms[big], pixel / 2.0, preserve_topology=True)
    out = shapely.clip_by_rect(out, -buffer, -buffer, extent + buffer, extent + buffer)
    kept = ~shapely.is_empty(out) & ~shapely.is_missing(out)
    return out[kept], kept


def _repeating(geoms: np.ndarray) -> np.ndarray:
    """Return which geometries have two equal consecutive coordinates (or may have: across two parts)."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    same = np.all(coords[1:] == coords[:-1], axis=1) & (owner[1:] == owner[:-1])
    out = np.zeros(len(geoms), dtype=bool)
    out[owner[1:][same]] = True
    return out


def _misoriented(geoms: np.ndarray) -> np.ndarray:
    """Return which geometries ``orient_polygons`` might change: every polygon with holes or parts, and the
    one-ring polygons whose shoelace area is not positive (y down); lines and points never."""
    kinds = shapely.get_type_id(geoms)
    simple = (kinds == 3) & (shapely.get_num_interior_rings(geoms) == 0)
    out = (kinds == 3) | (kinds == 6)
    if simple.any():
        coords, owner = shapely.get_coordinates(geoms[simple], return_index=True)
        x, y = coords[:, 0], coords[:, 1]
        cross = x[:-1] * y[1:] - x[1:] * y[:-1]
        within = owner[1:] == owner[:-1]
        area = np.bincount(owner[:-1][within], weights=cross[within], minlength=int(simple.sum()))
        out[simple] = ~(area > 0)
    return out


def _snap(geoms: np.ndarray) -> np.ndarray:
    """Round to the integer grid; only shapes made invalid by rounding go through GEOS's slower snapping.

    Removing repeated points and orienting rings make new geometries, so only the shapes that need them
    go through (rounding rarely makes two points of a half-pixel-simplified shape equal).
    """
    rounded = shapely.transform(geoms, np.round)
    bad = ~shapely.is_valid(rounded)
    few = len(geoms) <= _FEW  # for a few shapes the checks cost more than the passes they save
    repeats = ~bad if few else ~bad & _repeating(rounded)
    if repeats.any():
        rounded[repeats] = shapely.remove_repeated_points(rounded[repeats])  # MVT forbids zero-length moves
    if bad.any():
        rounded[bad] = shapely.set_precision(geoms[bad], 1.0)
    if few:
        return shapely.orient_polygons(rounded, exterior_cw=False)  # positive shoelace area in y-down space
    turn = _misoriented(rounded)
    if turn.any():
        rounded[turn] = shapely.orient_polygons(rounded[turn], exterior_cw=False)
    return rounded


_FEW = 64
"""Up to this many shapes every one is cleaned and oriented; beyond, only those that need it."""


def encode(layers: Sequence[TileLayer], extent: int = EXTENT) -> bytes:
    """Encode layers as one MVT; layers without features are left out, so no features gives ``b""``.

    Coordinates must be in tile units with y pointing down (``prepare`` output). They are snapped to the
    integer grid (shapes collapsing there are dropped) and polygons oriented as MVT 2.1 requires
    (exterior rings clockwise on screen), then written by the vectorised ``geo.mvt_encode``.
    """
    parts = []
    for layer in layers:
        geoms = _snap(np.asarray(layer.geometries, dtype=object))
        keep = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
        if keep.any():
            props = layer.properties
            columns = props if isinstance(props, Mapping) else columns_of(props)
            parts.append((layer.name, geoms[keep], {name: np.asarray(v)[keep] for name, v in columns.items()}))
    return encode_tile(parts, extent) if parts else b""
