"""Type aliases shared across the geospatial core."""

from typing import Literal, TypeAlias

BBox: TypeAlias = tuple[float, float, float, float]
"""(minx, miny, maxx, maxy), lon/lat order for geographic CRSs."""

LonLat: TypeAlias = tuple[float, float]
"""A (longitude, latitude) pair in degrees."""

TileIndex: TypeAlias = tuple[int, int, int]
"""Tile index of three ints in the field order of ``morecantile.Tile``: (x, y, z)."""

CoordSys: TypeAlias = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
"""Lon/lat coordinate system of third-party data: WGS84, CGCS2000, AMap/Tencent GCJ-02 or Baidu BD-09."""

GeometryType: TypeAlias = Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
"""Simple-feature geometry type names as used in GeoJSON."""
