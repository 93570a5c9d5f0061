"""A small map of a reviewed report: the project's outline and where the photo was taken, as SVG shapes."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.errors import UnknownFeature
from geo.storage.base import FeatureStore
from layers.models import Layer
from layers.photos import photo_dir
from layers.review import reviews

SIZE = 160
"""Width and height of the small map, in pixels."""


def _rings(geometry: BaseGeometry) -> list[list[tuple[float, float]]]:
    kind = geometry.geom_type
    if kind in ("MultiPolygon", "MultiLineString", "MultiPoint", "GeometryCollection"):
        return [ring for part in getattr(geometry, "geoms", []) for ring in _rings(part)]
    if kind == "Polygon":
        return [list(geometry.exterior.coords)]
    if kind == "Point":
        return [[(geometry.x, geometry.y)]]
    return [list(geometry.coords)]


def mini_map(geometry: BaseGeometry, photo: tuple[float, float] | None) -> dict[str, Any]:
    """Return SVG ``paths`` of the project (lon/lat scaled to a square, north up), the photo's ``point`` and ``size``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> m = mini_map(box(112.9, 27.8, 112.91, 27.81), (112.92, 27.805))
    >>> m["size"], m["point"] is not None
    (160, True)
    """
    shapes = geometry if photo is None else geometry.union(Point(photo))
    minx, miny, maxx, maxy = shapes.bounds
    squeeze = math.cos(math.radians((miny + maxy) / 2))
    span = max((maxx - minx) * squeeze, maxy - miny, 1e-5) * 1.2
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (
            round(SIZE / 2 + (lon - cx) * squeeze / span * SIZE, 1),
            round(SIZE / 2 - (lat - cy) / span * SIZE, 1),
        )

    paths, dots = [], []
    for ring in _rings(geometry):
        points = [xy(x, y) for x, y, *_ in ring]
        if len(points) == 1:
            dots.append(points[0])
        else:
            paths.append("M" + " L".join(f"{x},{y}" for x, y in points))
    return {"size": SIZE, "paths": paths, "dots": dots, "point": None if photo is None else xy(*photo)}


def photo_position(review_doc: dict[str, Any]) -> tuple[float, float] | None:
    """Return where a reviewed report's photo was taken (lon, lat), when the photo carried a position."""
    photo = (review_doc.get("extra") or {}).get("photo") or {}
    if photo.get("lon") is None or photo.get("lat") is None:
        return None
    return float(photo["lon"]), float(photo["lat"])


def pending_photo(data_dir: Path, layer_id: str, review_doc: dict[str, Any]) -> Path | None:
    """Return the staged photo file of a report still under review (None without one)."""
    photo = (review_doc.get("extra") or {}).get("photo") or {}
    key = str(photo.get("key") or "")
    if not re.fullmatch(r"[0-9a-f]{32}", key):
        return None
    path = photo_dir(data_dir, layer_id, str(review_doc["feature_id"])) / f"pending-{key}.jpg"
    return path if path.is_file() else None


def queue_items(store: FeatureStore, layers: list[Layer], status: str | None = "pending") -> list[dict[str, Any]]:
    """Return the review queue as page rows: the review, its small map and the photo's distance (m)."""
    by_id = {layer.id: layer for layer in layers}
    items = []
    for review in reviews(store, layers, status):
        try:
            geometry = store.get(review.layer, review.feature_id).geometry.iloc[0]
        except UnknownFeature:
            geometry = None
        photo = ((review.doc.get("extra") or {}).get("photo")) or {}
        items.append(
            {
                **review.as_json(),
                "layer_title": by_id[review.layer].title_zh,
                "map": None if geometry is None else mini_map(geometry, photo_position(dict(review.doc))),
                "distance_m": photo.get("distance_m"),
                "has_photo": bool(photo.get("key")),
            }
        )
    return items
