"""A printed map's frame: a ground extent in a projected CRS fitted to a page area, its true scale and scale bar.

The frame is drawn in a Gauss-Krüger projection (conformal, true scale on its central meridian), so the
drawing is not stretched; the printed scale ``1:N`` is still computed geodesically: the ellipsoidal
distance across the frame's horizontal centre line divided by the frame's width on paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import pyproj
import shapely

from geo.crs import CGCS2000, gk_zone_epsg, transform_geometry, transform_xy
from geo.types import BBox

GEOD = pyproj.Geod(ellps="GRS80")
"""CGCS2000's ellipsoid (GRS80 to within 0.1 mm)."""


@dataclass(frozen=True)
class MapFrame:
    """The ground extent (projected metres) a frame of ``width_mm`` × ``height_mm`` shows, drawn at ``dpi``."""

    epsg: int
    bounds: BBox
    width_mm: float
    height_mm: float
    dpi: int = 150

    @classmethod
    def fit(cls, lonlat: BBox, width_mm: float, height_mm: float, dpi: int = 150, margin: float = 0.05) -> MapFrame:
        """Return the frame that shows ``lonlat`` (CRS84) whole, centred, with ``margin`` of its size around it."""
        epsg = gk_zone_epsg((lonlat[0] + lonlat[2]) / 2)
        box = transform_geometry(shapely.box(*lonlat).segmentize(0.01), CGCS2000, epsg)
        minx, miny, maxx, maxy = shapely.bounds(box).tolist()
        w, h = (maxx - minx) * (1 + 2 * margin), (maxy - miny) * (1 + 2 * margin)
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        if w / h < width_mm / height_mm:
            w = h * width_mm / height_mm
        else:
            h = w * height_mm / width_mm
        return cls(epsg, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), width_mm, height_mm, dpi)

    @property
    def size_px(self) -> tuple[int, int]:
        """Return the drawing's (width, height) in pixels at ``dpi``."""
        return round(self.width_mm / 25.4 * self.dpi), round(self.height_mm / 25.4 * self.dpi)

    def to_pixels(self, geoms: np.ndarray) -> np.ndarray:
        """Return CRS84 geometries in the drawing's pixel space (x right, y down)."""
        minx, miny, maxx, maxy = self.bounds
        width, height = self.size_px
        projected = transform_geometry(np.asarray(geoms, dtype=object), CGCS2000, self.epsg)
        sx, sy = width / (maxx - minx), height / (maxy - miny)
        return shapely.transform(
            projected, lambda xy: np.column_stack(((xy[:, 0] - minx) * sx, (maxy - xy[:, 1]) * sy))
        )

    def edges(self) -> dict[str, tuple[float, float]]:
        """Return the lon/lat of the middle of each side: ``west``, ``east``, ``south``, ``north``."""
        minx, miny, maxx, maxy = self.bounds
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        lon, lat = transform_xy([minx, maxx, cx, cx], [cy, cy, miny, maxy], self.epsg, CGCS2000)
        names = ("west", "east", "south", "north")
        return {n: (float(x), float(y)) for n, x, y in zip(names, lon, lat, strict=True)}

    def ground_width_m(self) -> float:
        """Return the geodesic length of the frame's horizontal centre line, in metres."""
        edges = self.edges()
        (lon1, lat1), (lon2, lat2) = edges["west"], edges["east"]
        return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])

    def scale(self) -> float:
        """Return the scale denominator N of ``1:N`` (ground width / paper width)."""
        return self.ground_width_m() / (self.width_mm / 1000.0)


def nice_scale(scale: float, max_mm: float) -> tuple[float, float]:
    """Return a scale bar's ground length (1, 2 or 5 × 10^k metres) and its paper length in mm, at most ``max_mm``.

    Examples
    --------
    >>> nice_scale(500_000, 50)
    (20000.0, 40.0)
    """
    longest = max_mm / 1000.0 * scale
    base = 10 ** math.floor(math.log10(longest))
    length = max(m * base for m in (1.0, 2.0, 5.0) if m * base <= longest)
    return float(length), length / scale * 1000.0


def rounded_scale(scale: float) -> int:
    """Return ``scale`` rounded to three significant figures, as printed (1:386,000).

    Examples
    --------
    >>> rounded_scale(386_412.7)
    386000
    """
    digits = max(int(math.floor(math.log10(scale))) - 2, 0)
    return int(round(scale, -digits))
