"""Map images for reports and printed maps: the offline basemap's counties and projects coloured by light or status.

Drawn with planmap's own rasteriser (``geo.render``) in a :class:`geo.mapframe.MapFrame`: no browser, no
network. The counties are pale fills with their outlines, the city's outline on top; a county report's
county is drawn stronger and the others faded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import geopandas as gpd

from geo import render
from geo.mapframe import MapFrame
from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers.basemap import BACKGROUND, CITY_OUTLINE, FILLS
from layers.models import Layer
from layers.tiles import DEFAULT_COLOR

LIGHT_COLORS = {"green": "#16a34a", "yellow": "#eab308", "red": "#dc2626"}
LIGHT_LABELS = {"green": "绿灯（正常）", "yellow": "黄灯（滞后）", "red": "红灯（严重滞后/逾期）"}
NO_LIGHT = "#94a3b8"
BOUNDARIES = "counties"


@dataclass(frozen=True)
class Overlay:
    """Features to draw (CRS84) and the ``#rrggbb`` colour of each."""

    frame: gpd.GeoDataFrame
    colors: Sequence[str]


def light_overlay(frame: gpd.GeoDataFrame) -> Overlay:
    """Colour projects by their ``light`` (grey without one)."""
    lights = frame["light"] if "light" in frame else [None] * len(frame)
    return Overlay(frame, [LIGHT_COLORS.get(str(x), NO_LIGHT) for x in lights])


def status_overlay(layer: Layer, frame: gpd.GeoDataFrame) -> Overlay:
    """Colour features by the layer's status colours."""
    colors = layer.status_colors
    statuses = frame["status"] if "status" in frame else [None] * len(frame)
    return Overlay(frame, [colors.get(str(s), DEFAULT_COLOR) for s in statuses])


def extent(store: FeatureStore, county: str | None) -> BBox:
    """Return the CRS84 extent of the county (or the whole city) from the boundary layer."""
    where = Filter(ids=[county]) if county else Filter(equals={"level": "county"})
    minx, miny, maxx, maxy = (float(v) for v in store.read(BOUNDARIES, where, columns=["id"]).total_bounds)
    return minx, miny, maxx, maxy


def _paint(base: np.ndarray, top: np.ndarray) -> None:
    alpha = top[3:4].astype(np.float32) / 255.0
    base[:3] = (top[:3] * alpha + base[:3] * (1 - alpha)).astype(np.uint8)


def _rgba(colors: Sequence[str], alpha: int = 255) -> np.ndarray:
    return np.array([render.hex_rgba(c, alpha) for c in colors], dtype=np.uint8).reshape(-1, 4)


def _basemap(store: FeatureStore, frame: MapFrame, county: str | None) -> np.ndarray:
    width, height = frame.size_px
    rgba = np.broadcast_to(render.hex_rgba(BACKGROUND)[:, None, None], (4, height, width)).copy()
    divisions = store.read(BOUNDARIES, None, columns=["id", "level"])
    pixels = frame.to_pixels(divisions.geometry.to_numpy())
    counties = (divisions["level"] != "city").to_numpy()
    ids = [str(i) for i in divisions.loc[counties, "id"]]
    colors = _rgba([FILLS[int(i) % len(FILLS)] for i in ids])
    faded = np.array([county is not None and i != county for i in ids], dtype=bool)
    for mask, alpha in ((~faded, 255), (faded, 60)):
        if mask.any():
            fill = render.draw(
                pixels[counties][mask], colors[mask], width, fill_alpha=alpha, outline=False, height=height
            )
            _paint(rgba, fill)
    outlines = render.draw(
        pixels[counties], _rgba(["#94a3b8"] * int(counties.sum())), width, fill_alpha=0, height=height
    )
    _paint(rgba, outlines)
    if (~counties).any():
        city = render.draw(pixels[~counties], _rgba([CITY_OUTLINE]), width, fill_alpha=0, height=height)
        _paint(rgba, city)
    return rgba


def draw_map(store: FeatureStore, frame: MapFrame, overlays: Sequence[Overlay], county: str | None = None) -> bytes:
    """Return a PNG of the frame: basemap, then each overlay's features (points as discs, lines as strokes)."""
    rgba = _basemap(store, frame, county)
    width, height = frame.size_px
    scale = frame.dpi / 150.0
    for overlay in overlays:
        if overlay.frame.empty:
            continue
        pixels = frame.to_pixels(overlay.frame.geometry.to_numpy())
        drawn = render.draw(
            pixels,
            _rgba(overlay.colors),
            width,
            fill_alpha=200,
            line_width=3.0 * scale,
            point_radius=5.0 * scale,
            height=height,
        )
        _paint(rgba, drawn)
    return render.to_png(rgba)
