"""A spatial index of lon/lat geometries answering within-radius queries in geodesic metres."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import pyproj
import shapely

from geo.measure import GeometryInput, bearing_deg, geodesic_distance_m

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]

# The shortest metre lengths of one degree on the WGS84 ellipsoid: latitude at the equator (meridian
# radius is smallest there) and longitude per cos(lat) (the parallel radius is at least a·cos(lat)).
_M_PER_DEG_LAT_MIN = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_319.0
_MARGIN = 1.01
_MAX_SEGMENT_DEG = 0.01


@dataclass(frozen=True)
class RadiusHits:
    """Geometries within a radius of a point, nearest first.

    Attributes
    ----------
    index : positions of the hits in the indexed geometries.
    distance_m : geodesic distance from the point to the nearest point of each geometry (0 inside).
    bearing_deg : initial bearing from the point toward that nearest point (0 where the distance is 0).
    candidates : how many geometries the envelope prefilter passed to the exact test.
    """

    index: IntArray
    distance_m: FloatArray
    bearing_deg: FloatArray
    candidates: int


def _scales(lat: float, radius_m: float) -> tuple[float, float, float]:
    """Return (degrees of latitude, metres per degree lon, metres per degree lat), all conservative."""
    dlat = _MARGIN * radius_m / _M_PER_DEG_LAT_MIN
    cos_far = math.cos(math.radians(min(90.0, abs(lat) + dlat)))
    return dlat, _M_PER_DEG_LON_EQUATOR * max(cos_far, 0.0), _M_PER_DEG_LAT_MIN


def search_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """Return a lon/lat box sure to contain every point within ``radius_m`` geodesic metres of a point.

    Degrees are computed from the shortest possible metre length of a degree inside the box's latitude
    band, plus 1 %, so the box errs on the large side (a prefilter must never drop a true hit).

    Examples
    --------
    >>> minx, miny, maxx, maxy = search_box(112.9, 27.8, 1000)
    >>> round(maxy - 27.8, 5), round(maxx - 112.9, 5)
    (0.00913, 0.01026)
    """
    dlat, m_lon, _ = _scales(lat, radius_m)
    dlon = 180.0 if m_lon < 1e-3 else min(180.0, _MARGIN * radius_m / m_lon)
    return max(-180.0, lon - dlon), max(-90.0, lat - dlat), min(180.0, lon + dlon), min(90.0, lat + dlat)


def envelope_distance_lower_m(lon: float, lat: float, bounds: npt.NDArray[np.float64], radius_m: float) -> FloatArray:
    """Return a lower bound of the geodesic distance from a point to boxes ``(minx, miny, maxx, maxy)``.

    Valid for boxes within ``radius_m`` of the point's latitude band: the degree gaps are scaled by the
    shortest metre length of a degree there and shrunk by 1 %, so a box is never dropped wrongly.
    """
    _, m_lon, m_lat = _scales(lat, radius_m)
    dx = np.maximum(np.maximum(bounds[:, 0] - lon, lon - bounds[:, 2]), 0.0) * m_lon
    dy = np.maximum(np.maximum(bounds[:, 1] - lat, lat - bounds[:, 3]), 0.0) * m_lat
    return np.asarray(np.hypot(dx, dy) / _MARGIN, dtype=np.float64)


def _tmerc(lon0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=tmerc +lon_0={lon0:.6f} +lat_0=0 +k=1 +datum=WGS84 +units=m +no_defs")
    return pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(4326), crs, always_xy=True)


class SpatialIndex:
    """An STRtree over lon/lat geometries, queried in geodesic metres.

    Envelopes narrow the search (``search_box`` and an envelope lower bound); the nearest point of each
    candidate (a polygon's edge, not its centroid; the point itself inside) is then found in a
    transverse Mercator plane centred on the data, and its distance and bearing measured on the WGS84
    ellipsoid. The plane is conformal, so within a city-sized region the nearest point it finds is the
    geodesic one; geometries are densified (0.01°) and projected once, when the index is built. This is
    :func:`geo.measure.distances_to_geometries_m` with the per-query projection moved to build time
    (building an azimuthal projection per query point costs ~4 ms, more than the whole query).

    Parameters
    ----------
    geometries : lon/lat shapely geometries (a sequence, array or GeoSeries); missing ones never match.

    Examples
    --------
    >>> from shapely import Point
    >>> index = SpatialIndex([Point(112.90, 27.80), Point(112.91, 27.80)])
    >>> hits = index.within(112.90, 27.80, 500)
    >>> hits.index.tolist(), hits.distance_m.tolist()
    ([0], [0.0])
    """

    def __init__(self, geometries: GeometryInput) -> None:
        geoms = np.asarray(list(geometries) if not isinstance(geometries, np.ndarray) else geometries, dtype=object)
        self.geometries: npt.NDArray[np.object_] = geoms.reshape(-1)
        self._tree = shapely.STRtree(self.geometries)
        self._bounds = shapely.bounds(self.geometries)
        centre = float(np.nanmean(self._bounds[:, [0, 2]])) if np.isfinite(self._bounds).any() else 0.0
        self._plane = _tmerc(round(centre, 2))
        dense = shapely.segmentize(self.geometries, _MAX_SEGMENT_DEG)
        self._planar = shapely.transform(dense, lambda c: np.column_stack(self._plane.transform(c[:, 0], c[:, 1])))

    def __len__(self) -> int:
        """Return the number of indexed geometries."""
        return int(self.geometries.size)

    def candidates(self, lon: float, lat: float, radius_m: float) -> IntArray:
        """Return positions of geometries whose envelope may lie within ``radius_m``, ascending.

        The STRtree finds envelopes meeting the search box; envelopes whose lower-bound distance exceeds
        the radius (the box's corners) are dropped.
        """
        found = np.sort(np.asarray(self._tree.query(shapely.box(*search_box(lon, lat, radius_m))), dtype=np.intp))
        near = envelope_distance_lower_m(lon, lat, self._bounds[found], radius_m) <= radius_m
        return found[near]

    def distances(self, lon: float, lat: float, positions: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return geodesic distances (0 inside) and bearings from a point to the indexed geometries at ``positions``.

        NaN for missing or empty geometries.
        """
        planar = self._planar[positions]
        point = shapely.points(*self._plane.transform(lon, lat))
        lines = shapely.shortest_line(planar, point)  # runs from the geometry to the point
        found = ~shapely.is_missing(lines)
        near = np.full((positions.size, 2), np.nan)
        near[found] = shapely.get_coordinates(shapely.get_point(lines[found], 0))
        near_lon, near_lat = self._plane.transform(near[:, 0], near[:, 1], direction="INVERSE")
        dist = geodesic_distance_m(lon, lat, near_lon, near_lat)
        bearing = bearing_deg(lon, lat, near_lon, near_lat)
        inside = shapely.intersects(planar, point)
        dist[inside], bearing[inside] = 0.0, 0.0
        return dist, bearing

    def within(self, lon: float, lat: float, radius_m: float, limit: int | None = None) -> RadiusHits:
        """Return the geometries within ``radius_m`` of a point, nearest first (ties by position).

        Parameters
        ----------
        lon, lat : the point in degrees (WGS84 or CGCS2000).
        radius_m : the search radius in metres (geodesic, to the nearest point of each geometry).
        limit : keep at most this many hits.

        Returns
        -------
        RadiusHits
        """
        cand = self.candidates(lon, lat, radius_m)
        if cand.size == 0:
            empty = np.zeros(0)
            return RadiusHits(cand, empty, empty, 0)
        dist, bearing = self.distances(lon, lat, cand)
        keep = np.flatnonzero(np.nan_to_num(dist, nan=np.inf) <= radius_m)
        order = keep[np.lexsort((cand[keep], dist[keep]))]
        if limit is not None:
            order = order[:limit]
        return RadiusHits(cand[order], dist[order], bearing[order], int(cand.size))
