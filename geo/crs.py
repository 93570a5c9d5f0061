"""CRS toolkit: CGCS2000, Gauss-Krüger zones, WGS84, cached transformers and GCJ-02/BD-09 dispatch.

The GCJ-02/BD-09 formulas live in :mod:`geo.chinacoords` and are re-exported here.
"""

import functools
import math
import re
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

import geopandas as gpd
import pyproj
import shapely
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo.chinacoords import (
    FloatArray,
    as_float_pair,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import CRSMismatchError, InvalidBBox, InvalidCRS
from geo.types import BBox, CoordSys

__all__ = [
    "as_crs",
    "CGCS2000",
    "CRS84",
    "GK_CM111",
    "GK_CM114",
    "SUPPORTED_OUTPUT_CRS",
    "WEB_MERCATOR",
    "WGS84",
    "CRSLike",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert_frame",
    "convert_geometry",
    "crs_uri",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "get_transformer",
    "gk_zone_epsg",
    "gk_zone_for_bounds",
    "out_of_china",
    "parse_crs",
    "to_crs",
    "to_wgs84",
    "transform_geometry",
    "transform_xy",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CRSLike: TypeAlias = int | str | pyproj.CRS
_Conversion: TypeAlias = Callable[[npt.ArrayLike, npt.ArrayLike], tuple[FloatArray, FloatArray]]
Geometries = TypeVar("Geometries", BaseGeometry, npt.NDArray[np.object_])

CRS84 = "OGC:CRS84"
WGS84 = 4326
CGCS2000 = 4490
WEB_MERCATOR = 3857
GK_CM111 = 4546
GK_CM114 = 4547

_EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
_CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SUPPORTED_OUTPUT_CRS: dict[str, int | str] = {
    _CRS84_URI: CRS84,
    **{_EPSG_URI.format(code): code for code in (CGCS2000, GK_CM111, GK_CM114, WEB_MERCATOR, WGS84)},
}
_SUPPORTED_HINT = ", ".join(SUPPORTED_OUTPUT_CRS)
_CODE_RE = re.compile(r"^(?:EPSG:)?(\d{4,5})$", re.IGNORECASE)
_LONLAT_CRS = (pyproj.CRS.from_epsg(WGS84), pyproj.CRS.from_epsg(CGCS2000), pyproj.CRS(CRS84))


@functools.lru_cache(maxsize=64)
def as_crs(crs: CRSLike) -> pyproj.CRS:
    """Return ``crs`` as a pyproj CRS (cached); raise ``InvalidCRS`` naming what could not be read."""
    try:
        return pyproj.CRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidCRS(f"cannot interpret {crs!r} as a CRS: {exc}") from exc


def crs_uri(crs: CRSLike) -> str:
    """Return the OGC URI of a CRS.

    Parameters
    ----------
    crs : int, str or pyproj.CRS
        Anything ``pyproj.CRS.from_user_input`` accepts; must carry an EPSG code or be OGC:CRS84.

    Returns
    -------
    str
        ``http://www.opengis.net/def/crs/EPSG/0/{code}`` or the OGC CRS84 URI.

    Raises
    ------
    InvalidCRS
        If the CRS has no EPSG code and is not CRS84.

    Examples
    --------
    >>> crs_uri(4547)
    'http://www.opengis.net/def/crs/EPSG/0/4547'
    """
    parsed = as_crs(crs)
    if parsed.to_authority() == ("OGC", "CRS84"):
        return _CRS84_URI
    code = parsed.to_epsg()
    if code is None:
        raise InvalidCRS(f"CRS {parsed.name!r} has no EPSG code, so it has no OGC URI")
    return _EPSG_URI.format(code)


def parse_crs(value: str) -> pyproj.CRS:
    """Parse a supported output CRS given as an OGC URI, ``EPSG:nnnn``, ``nnnn`` or ``CRS84``.

    Parameters
    ----------
    value : str
        The CRS as a client sends it (e.g. the ``crs`` query parameter of OGC API Features).

    Raises
    ------
    InvalidCRS
        If the value is malformed or not in ``SUPPORTED_OUTPUT_CRS``.

    Examples
    --------
    >>> parse_crs("EPSG:4490").to_epsg()
    4490
    """
    text = value.strip()
    if text.upper() in ("CRS84", "OGC:CRS84"):
        text = _CRS84_URI
    elif match := _CODE_RE.match(text):
        text = _EPSG_URI.format(int(match.group(1)))
    if text not in SUPPORTED_OUTPUT_CRS:
        raise InvalidCRS(f"unsupported crs {value!r}; use one of {_SUPPORTED_HINT}")
    return as_crs(SUPPORTED_OUTPUT_CRS[text])


@functools.lru_cache(maxsize=128)
def get_transformer(src: CRSLike, dst: CRSLike) -> pyproj.Transformer:
    """Return a cached ``always_xy`` transformer from ``src`` to ``dst``: axes are always (x/lon, y/lat)."""
    return pyproj.Transformer.from_crs(as_crs(src), as_crs(dst), always_xy=True)


def transform_xy(x: npt.ArrayLike, y: npt.ArrayLike, src: CRSLike, dst: CRSLike) -> tuple[FloatArray, FloatArray]:
    """Transform coordinate arrays (lon/lat or easting/northing order) from ``src`` to ``dst``.

    Examples
    --------
    >>> e, n = transform_xy(112.9454, 27.8313, WGS84, GK_CM114)
    >>> round(float(e), 2), round(float(n), 2)
    (396103.14, 3080193.18)
    """
    xx, yy = get_transformer(src, dst).transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(xx, dtype=float), np.asarray(yy, dtype=float)


def _xy_func(func: Callable[[FloatArray, FloatArray], tuple[Any, Any]]) -> Callable[[FloatArray], FloatArray]:
    def apply(coords: FloatArray) -> FloatArray:
        return np.column_stack(func(coords[:, 0], coords[:, 1]))

    return apply


def transform_geometry(geom: Geometries, src: CRSLike, dst: CRSLike) -> Geometries:
    """Reproject a shapely geometry or array of them (2D; any Z is dropped) from ``src`` to ``dst``."""
    return shapely.transform(geom, _xy_func(get_transformer(src, dst).transform))


def to_crs(gdf: gpd.GeoDataFrame, crs: CRSLike) -> gpd.GeoDataFrame:
    """Reproject a GeoDataFrame, refusing frames without a CRS.

    Raises
    ------
    CRSMismatchError
        If ``gdf.crs`` is None: a service must not guess the source CRS.
    """
    target = as_crs(crs)
    if gdf.crs is None:
        raise CRSMismatchError(f"GeoDataFrame has no CRS; set_crs() it before reprojecting to {target.name}")
    return gdf.to_crs(target)


def gk_zone_epsg(lon: float) -> int:
    """Return the CGCS2000 3-degree Gauss-Krüger EPSG code (no zone prefix) for a longitude.

    Zones are centred on multiples of 3°E and span ±1.5°; EPSG:4534 (CM 75E) to 4554 (CM 135E).

    Raises
    ------
    InvalidCRS
        If the longitude is outside the zones that cover China (73.5°E to 136.5°E).

    Examples
    --------
    >>> gk_zone_epsg(112.3), gk_zone_epsg(112.9)
    (4546, 4547)
    """
    if not 73.5 <= lon < 136.5:
        raise InvalidCRS(f"longitude {lon} is outside the CGCS2000 3-degree GK zones of China (73.5-136.5E)")
    central_meridian = 3 * math.floor((lon + 1.5) / 3)
    return 4534 + (central_meridian - 75) // 3


def gk_zone_for_bounds(bounds: BBox) -> int:
    """Choose one 3-degree GK zone for a whole dataset from the centre longitude of its lon/lat bounds.

    Raises
    ------
    InvalidBBox
        If the bounds are not finite or minx > maxx / miny > maxy.
    """
    minx, miny, maxx, maxy = bounds
    if not (np.all(np.isfinite(bounds)) and minx <= maxx and miny <= maxy):
        raise InvalidBBox(f"invalid bounds {bounds!r}; expected finite (minx, miny, maxx, maxy)")
    return gk_zone_epsg((minx + maxx) / 2)


_TO_WGS84: dict[str, _Conversion] = {
    "wgs84": as_float_pair,
    "cgcs2000": as_float_pair,
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, _Conversion] = {
    "wgs84": as_float_pair,
    "cgcs2000": as_float_pair,
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def _conversion(table: dict[str, _Conversion], coordsys: str) -> _Conversion:
    try:
        return table[coordsys]
    except KeyError:
        raise InvalidCRS(f"unknown coordinate system {coordsys!r}; use one of {', '.join(table)}") from None


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, coordsys: CoordSys) -> tuple[FloatArray, FloatArray]:
    """Convert lon/lat in ``coordsys`` to WGS84.

    CGCS2000 is returned unchanged: the two differ by decimetres at most, below map accuracy, and
    PROJ's own EPSG:4490 -> 4326 transformation is a "ballpark" identity as well.

    Raises
    ------
    InvalidCRS
        If ``coordsys`` is not one of wgs84, cgcs2000, gcj02, bd09.
    """
    return _conversion(_TO_WGS84, coordsys)(lon, lat)


def from_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, coordsys: CoordSys) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 lon/lat to ``coordsys`` (CGCS2000 is treated as WGS84, see :func:`to_wgs84`)."""
    return _conversion(_FROM_WGS84, coordsys)(lon, lat)


def convert_geometry(geom: Geometries, src: CoordSys, dst: CoordSys) -> Geometries:
    """Convert a lon/lat shapely geometry (or array of them) between WGS84, CGCS2000, GCJ-02 and BD-09."""
    to_w, from_w = _conversion(_TO_WGS84, src), _conversion(_FROM_WGS84, dst)
    if src == dst or {src, dst} <= {"wgs84", "cgcs2000"}:
        return geom
    return shapely.transform(geom, _xy_func(lambda x, y: from_w(*to_w(x, y))))


def convert_frame(gdf: gpd.GeoDataFrame, src: CoordSys, dst: CoordSys) -> gpd.GeoDataFrame:
    """Return a copy of a lon/lat GeoDataFrame with its geometries converted from ``src`` to ``dst``.

    The CRS label (EPSG:4326, 4490 or CRS84) is kept: GCJ-02 and BD-09 data are conventionally stored
    as lon/lat degrees under a WGS84 label.

    Raises
    ------
    CRSMismatchError
        If the frame has no CRS or a CRS that is not lon/lat degrees.
    """
    if gdf.crs is None or not any(gdf.crs.equals(c) for c in _LONLAT_CRS):
        raise CRSMismatchError(f"convert_frame needs lon/lat data in EPSG:4326, 4490 or CRS84, got {gdf.crs}")
    out = gdf.copy()
    converted = convert_geometry(np.asarray(gdf.geometry.array), src, dst)
    out[gdf.geometry.name] = gpd.GeoSeries(converted, index=gdf.index, crs=gdf.crs)
    return out
