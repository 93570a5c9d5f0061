"""Hand a destination to the phone's map apps: 高德地图 (GCJ-02), 百度地图 (BD-09) and the system app (WGS84 ``geo:``).

Chinese map apps expect their own datums; a WGS84 point given to them as is lands 300-600 m off in
Xiangtan. The point is converted with :mod:`geo.chinacoords` and each URI names its datum explicitly
(``coordinate=gaode``, ``coord_type=bd09ll``), so the apps do not shift it a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from shapely.geometry.base import BaseGeometry

from geo.chinacoords import wgs84_to_bd09, wgs84_to_gcj02

_DECIMALS = 6
"""About 0.1 m: finer than any phone fix, coarse enough for short URLs."""


@dataclass(frozen=True)
class NavigationLinks:
    """URIs that open one destination (with its route button) in 高德地图, 百度地图 and the system map app."""

    amap: str
    baidu: str
    geo: str


def destination(geometry: BaseGeometry) -> tuple[float, float]:
    """Return a point on ``geometry`` to drive to (a point itself; inside a polygon; on a line), as (lon, lat).

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> destination(Point(112.9, 27.8))
    (112.9, 27.8)
    """
    point = geometry.representative_point()
    return float(point.x), float(point.y)


def _fmt(value: float) -> str:
    return f"{value:.{_DECIMALS}f}"


def navigation_links(lon: float, lat: float, name: str) -> NavigationLinks:
    """Return the map-app URIs for a WGS84 destination named ``name``.

    Examples
    --------
    >>> links = navigation_links(112.9, 27.8, "水库")
    >>> links.geo.split("?")[0]
    'geo:27.800000,112.900000'
    """
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    blon, blat = (float(v) for v in wgs84_to_bd09(lon, lat))
    amap = "https://uri.amap.com/navigation?" + urlencode(
        {
            "to": f"{_fmt(glon)},{_fmt(glat)},{name}",
            "mode": "car",
            "coordinate": "gaode",
            "callnative": "1",
            "src": "planmap",
        }
    )
    baidu = "https://api.map.baidu.com/marker?" + urlencode(
        {
            "location": f"{_fmt(blat)},{_fmt(blon)}",
            "title": name,
            "content": name,
            "output": "html",
            "coord_type": "bd09ll",
            "src": "webapp.planmap.field",
        }
    )
    here = f"{_fmt(lat)},{_fmt(lon)}"
    return NavigationLinks(amap, baidu, f"geo:{here}?q={here}({quote(name)})")
