"""Demo shapes drawn in metres: irregular blobs, rotated rectangles, and non-overlapping placement."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from layers.demo.context import random_points_in

ShapeMaker = Callable[[Point, np.random.Generator], BaseGeometry]


def blob(
    centre: Point,
    area_m2: float,
    rng: np.random.Generator,
    *,
    vertices: int = 14,
    roughness: float = 0.25,
    aspect: float = 1.0,
) -> Polygon:
    """Return an irregular star-shaped polygon of exactly ``area_m2`` (planar) around ``centre``.

    Radii are jittered by ``roughness`` around an ellipse of the given ``aspect`` (long / short axis),
    turned by a random angle; the result is scaled to the requested area.
    """
    angles = np.sort(rng.uniform(0.0, 2 * math.pi, vertices))
    radii = 1.0 + roughness * rng.uniform(-1.0, 1.0, vertices)
    x = radii * np.cos(angles) * math.sqrt(aspect)
    y = radii * np.sin(angles) / math.sqrt(aspect)
    shape = Polygon(np.column_stack([x, y]))
    shape = affinity.rotate(shape, float(rng.uniform(0.0, 180.0)), origin=(0, 0))
    scale = math.sqrt(area_m2 / shape.area)
    return affinity.translate(affinity.scale(shape, scale, scale, origin=(0, 0)), centre.x, centre.y)


def rectangle(centre: Point, length_m: float, width_m: float, angle_deg: float) -> Polygon:
    """Return a ``length_m`` x ``width_m`` rectangle centred on ``centre``, long side turned ``angle_deg`` from east."""
    half_l, half_w = length_m / 2, width_m / 2
    rect = Polygon([(-half_l, -half_w), (half_l, -half_w), (half_l, half_w), (-half_l, half_w)])
    return affinity.translate(affinity.rotate(rect, angle_deg, origin=(0, 0)), centre.x, centre.y)


def nudge_into(point: Point, region: BaseGeometry) -> Point:
    """Return ``point`` if it lies in ``region``, else the nearest point of ``region`` (just inside it)."""
    if region.contains(point):
        return point
    near = nearest_points(region, point)[0]
    # nearest_points lands on the boundary; step 1 m towards the region's interior.
    inside = shapely.intersection(region, near.buffer(2.0))
    return inside.representative_point() if not inside.is_empty else near


def place(
    region: BaseGeometry,
    count: int,
    make: ShapeMaker,
    rng: np.random.Generator,
    *,
    gap_m: float = 0.0,
    avoid: list[BaseGeometry] | None = None,
    max_tries: int = 60,
) -> list[BaseGeometry]:
    """Place up to ``count`` shapes inside ``region`` without overlapping each other or ``avoid``.

    Parameters
    ----------
    region : shapely geometry
        Where shapes must lie (metres).
    count : int
        How many shapes to place.
    make : callable
        ``make(centre, rng)`` returns a shape around a random centre; called again on every retry.
    rng : numpy.random.Generator
        Random stream.
    gap_m : float
        Minimum distance between any two shapes (and to ``avoid``).
    avoid : list of geometries, optional
        Existing footprints to keep clear of.
    max_tries : int
        Attempts per shape before giving up on it.

    Returns
    -------
    list of geometries
        The shapes placed (fewer than ``count`` only when the region is too crowded).
    """
    shapely.prepare(region)
    placed: list[BaseGeometry] = []
    others = list(avoid or [])
    for _ in range(count):
        for _ in range(max_tries):
            shape = make(random_points_in(region, 1, rng)[0], rng)
            if not region.contains(shape):
                continue
            if others and bool(np.any(shapely.dwithin(_array(others), shape, gap_m))):
                continue
            placed.append(shape)
            others.append(shape)
            break
    return placed


def _array(geoms: list[BaseGeometry]) -> np.ndarray:
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    return arr
