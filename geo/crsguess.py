"""Guessing the CRS of coordinates that came without one, from where they would land, and their datum
(WGS84, or the GCJ-02 / BD-09 of Chinese web maps) from known positions of the same features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

import pyproj
import shapely

from geo.chinacoords import bd09_to_wgs84, gcj02_to_wgs84
from geo.crs import CRSLike, transform_xy
from geo.types import BBox, CoordSys

_SAMPLE = 2000
_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_GEOD = pyproj.Geod(ellps="WGS84")


def _inside(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], area: BBox) -> npt.NDArray[np.bool_]:
    minx, miny, maxx, maxy = area
    return np.asarray((lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy))


def share_inside(x: npt.ArrayLike, y: npt.ArrayLike, crs: CRSLike, area: BBox) -> float:
    """Return the share of (x, y) points in ``crs`` that land inside ``area`` (lon/lat) once transformed.

    For a geographic CRS a point counts also when its axes are swapped (lat, lon), so a lon/lat file with
    some swapped rows is still recognised as lon/lat.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size == 0:
        return 0.0
    parsed = pyproj.CRS.from_user_input(crs)
    if parsed.is_geographic:
        hits = _inside(xs, ys, area) | _inside(ys, xs, area)
    else:
        with np.errstate(all="ignore"):
            lon, lat = transform_xy(xs, ys, parsed, "OGC:CRS84")
        hits = _inside(lon, lat, area)
    return float(np.mean(hits))


def guess_crs(
    geoms: npt.ArrayLike, candidates: Sequence[CRSLike], area: BBox, min_share: float = 0.5
) -> pyproj.CRS | None:
    """Return the candidate CRS under which most coordinates fall inside ``area``, or None.

    Parameters
    ----------
    geoms : array of shapely geometries
        Geometries whose coordinates have an unknown CRS (missing ones are skipped).
    candidates : sequence of CRS-like
        CRSs to try, in order of preference (ties go to the earlier one).
    area : (minx, miny, maxx, maxy)
        Where the data is expected to be, in lon/lat degrees.
    min_share : float
        The least share of coordinates that must land inside ``area`` for a candidate to be chosen.

    Examples
    --------
    >>> from shapely import Point
    >>> guess_crs([Point(396103.14, 3080193.18)], [4326, 4546, 4547], (111.9, 27.3, 113.2, 28.2)).to_epsg()
    4547
    """
    coords = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    if len(coords) > _SAMPLE:
        coords = coords[np.linspace(0, len(coords) - 1, _SAMPLE).astype(int)]
    best: tuple[float, pyproj.CRS | None] = (min_share, None)
    for candidate in candidates:
        share = share_inside(coords[:, 0], coords[:, 1], candidate, area)
        if share > best[0] or (share == best[0] == 1.0 and best[1] is None):
            best = (share, pyproj.CRS.from_user_input(candidate))
    return best[1]


def datum_offsets(
    lon: npt.ArrayLike, lat: npt.ArrayLike, ref_lon: npt.ArrayLike, ref_lat: npt.ArrayLike
) -> dict[CoordSys, float]:
    """Return the median distance in metres from paired reference points (WGS84) to the points read as each datum.

    The points are taken as WGS84, GCJ-02 (AMap, Tencent) and BD-09 (Baidu) in turn and converted to WGS84;
    the datum they were really given in is the one that brings them closest to where the same features are
    known to be. Empty input gives an empty dict.
    """
    xs, ys = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    rx, ry = np.asarray(ref_lon, dtype=float), np.asarray(ref_lat, dtype=float)
    if xs.size > _SAMPLE:
        pick = np.linspace(0, xs.size - 1, _SAMPLE).astype(int)
        xs, ys, rx, ry = xs[pick], ys[pick], rx[pick], ry[pick]
    if xs.size == 0:
        return {}
    out: dict[CoordSys, float] = {}
    for datum, convert in (("wgs84", None), *_TO_WGS84.items()):
        cx, cy = (xs, ys) if convert is None else convert(xs, ys)
        distance = _GEOD.inv(cx, cy, rx, ry)[2]
        out[datum] = float(np.median(distance))  # type: ignore[index]
    return out


def guess_datum(offsets: dict[CoordSys, float], max_m: float = 30.0) -> CoordSys | None:
    """Return the datum of :func:`datum_offsets` whose points land within ``max_m`` of the references, or None.

    The WGS84 and GCJ-02 readings of a point differ by 100-700 m across China and BD-09 adds a few hundred
    more, so a match within tens of metres singles one out.

    Examples
    --------
    >>> guess_datum({"wgs84": 512.0, "gcj02": 2.5, "bd09": 830.0})
    'gcj02'
    >>> guess_datum({"wgs84": 95.0, "gcj02": 480.0, "bd09": 1100.0}) is None
    True
    """
    if not offsets:
        return None
    best = min(offsets, key=lambda d: offsets[d])
    return best if offsets[best] <= max_m else None
