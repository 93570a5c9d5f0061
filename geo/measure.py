"""Geodesic measurement on the WGS84 ellipsoid: areas in m²/mu/ha, lengths, distances and bearings."""

import functools
from collections.abc import Sequence
from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

FloatArray: TypeAlias = npt.NDArray[np.float64]
GeometryInput: TypeAlias = BaseGeometry | Sequence[BaseGeometry | None] | gpd.GeoSeries | npt.NDArray[np.object_]
_Area = TypeVar("_Area", float, FloatArray)

MU_M2 = 10000 / 15
HECTARE_M2 = 10000

_LINE_TYPES = (shapely.GeometryType.LINESTRING, shapely.GeometryType.LINEARRING)
# Edges are straight in lon/lat (RFC 7946); densify them before projecting so they stay faithful.
_MAX_SEGMENT_DEG = 0.01
_CENTRE_DECIMALS = 2


@functools.cache
def _geod() -> pyproj.Geod:
    return pyproj.Geod(ellps="WGS84")


def m2_to_mu(m2: _Area) -> _Area:
    """Convert square metres to 市亩 (mu); 1 mu = 10000/15 m², so 1 km² = 1500 mu."""
    return m2 / MU_M2


def m2_to_ha(m2: _Area) -> _Area:
    """Convert square metres to hectares."""
    return m2 / HECTARE_M2


def mu_to_m2(mu: _Area) -> _Area:
    """Convert 市亩 (mu) to square metres."""
    return mu * MU_M2


MEASURE_BLOCK = 20_000
"""Geometries measured at a time."""


def _as_geometry_array(geoms: GeometryInput) -> npt.NDArray[np.object_]:
    if isinstance(geoms, BaseGeometry):
        single = np.empty((), dtype=object)
        single[()] = geoms
        return single
    if isinstance(geoms, gpd.GeoSeries):
        return np.asarray(geoms.array, dtype=object)
    out = np.empty(len(geoms), dtype=object)
    out[:] = list(geoms)
    return out


def _per_geometry(arr: npt.NDArray[np.object_], owner: npt.NDArray[np.intp], values: FloatArray) -> FloatArray:
    """Sum ``values`` per owning geometry; NaN for missing geometries."""
    totals = np.bincount(owner, weights=values, minlength=arr.size).astype(float)
    totals[shapely.is_missing(arr.ravel())] = np.nan
    return totals.reshape(arr.shape)


def geodesic_area_m2(geoms: GeometryInput) -> FloatArray:
    """Return the geodesic area of lon/lat geometries in m².

    Parameters
    ----------
    geoms : shapely geometry, sequence of geometries or GeoSeries
        Lon/lat coordinates (WGS84 or CGCS2000) in degrees.

    Returns
    -------
    numpy.ndarray
        Absolute areas, holes subtracted and multi-part areas summed, whatever the ring orientation;
        0 for points and lines, NaN for missing geometries. 0-d for a single geometry.

    Examples
    --------
    >>> from shapely import box
    >>> round(float(geodesic_area_m2(box(112.9, 27.8, 112.91, 27.81))))
    1091966
    """
    arr = _as_geometry_array(geoms)
    if arr.size <= MEASURE_BLOCK:
        return _area_block(arr)
    flat = arr.ravel()
    # parts and rings are copies: a block at a time, a million polygons are not all copied at once
    blocks = [_area_block(flat[i : i + MEASURE_BLOCK]) for i in range(0, flat.size, MEASURE_BLOCK)]
    return np.concatenate(blocks).reshape(arr.shape)


def _area_block(arr: npt.NDArray[np.object_]) -> FloatArray:
    parts, part_owner = shapely.get_parts(arr.ravel(), return_index=True)
    polygons = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    rings, ring_poly = shapely.get_rings(parts[polygons], return_index=True)
    is_exterior = np.r_[True, ring_poly[1:] != ring_poly[:-1]] if rings.size else np.zeros(0, dtype=bool)
    geod = _geod()
    ring_area = np.array(
        [abs(geod.polygon_area_perimeter(*shapely.get_coordinates(r).T)[0]) for r in rings], dtype=float
    )
    signed = np.where(is_exterior, ring_area, -ring_area)
    return _per_geometry(arr, part_owner[polygons][ring_poly], signed)


def geodesic_length_m(geoms: GeometryInput) -> FloatArray:
    """Return the geodesic length of lon/lat geometries in metres.

    Lines give their length, polygons their perimeter including the rings of holes, points 0,
    missing geometries NaN. Same input and output shapes as :func:`geodesic_area_m2`.
    """
    arr = _as_geometry_array(geoms)
    parts, part_owner = shapely.get_parts(arr.ravel(), return_index=True)
    types = shapely.get_type_id(parts)
    rings, ring_poly = shapely.get_rings(parts[types == shapely.GeometryType.POLYGON], return_index=True)
    lines = np.isin(types, _LINE_TYPES)
    linear = np.concatenate([rings, parts[lines]])
    owner = np.concatenate([part_owner[types == shapely.GeometryType.POLYGON][ring_poly], part_owner[lines]])
    coords, coord_line = shapely.get_coordinates(linear, return_index=True)
    same = coord_line[1:] == coord_line[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    _, _, dist = _geod().inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    return _per_geometry(arr, owner[coord_line[1:][same]], np.asarray(dist, dtype=float))


def area_mu(geoms: GeometryInput) -> FloatArray:
    """Return the geodesic area of lon/lat geometries in mu (see :func:`geodesic_area_m2`)."""
    return m2_to_mu(geodesic_area_m2(geoms))


def _inv(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    x1, y1, x2, y2 = (np.ascontiguousarray(a).ravel() for a in arrays)
    az, _, dist = _geod().inv(x1, y1, x2, y2)
    bearing = np.mod(np.asarray(az, dtype=float), 360.0)
    bearing[bearing >= 360.0] = 0.0  # np.mod(-1e-20, 360) rounds to 360
    shape = arrays[0].shape
    return np.asarray(dist, dtype=float).reshape(shape), bearing.reshape(shape)


def geodesic_distance_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Return the geodesic distance in metres between lon/lat points (broadcast, vectorised).

    Examples
    --------
    >>> round(float(geodesic_distance_m(112.9454, 27.8313, 112.9454, 27.8403)), 1)
    997.4
    """
    return _inv(lon1, lat1, lon2, lat2)[0]


def bearing_deg(lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike) -> FloatArray:
    """Return the initial bearing from point 1 to point 2 in degrees, clockwise from north, in [0, 360)."""
    return _inv(lon1, lat1, lon2, lat2)[1]


@functools.lru_cache(maxsize=256)
def _aeqd(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lon_0={lon0} +lat_0={lat0} +datum=WGS84 +units=m +no_defs")
    return pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(4326), crs, always_xy=True)


def _nearest_group(
    lon: FloatArray, lat: FloatArray, geoms: npt.NDArray[np.object_], aeqd: pyproj.Transformer
) -> tuple[FloatArray, FloatArray]:
    """Nearest lon/lat on each geometry, found in an azimuthal-equidistant plane near the points."""
    dense = shapely.segmentize(geoms, _MAX_SEGMENT_DEG)
    projected = shapely.transform(dense, lambda c: np.column_stack(aeqd.transform(c[:, 0], c[:, 1])))
    points = shapely.points(*aeqd.transform(lon, lat))
    inside = shapely.intersects(projected, points)
    lines = shapely.shortest_line(projected, points)  # runs from the geometry to the point
    found = ~shapely.is_missing(lines)
    nearest = shapely.get_coordinates(shapely.get_point(lines[found], 0))
    out_lon, out_lat = np.full(lon.shape, np.nan), np.full(lon.shape, np.nan)
    out_lon[found], out_lat[found] = aeqd.transform(nearest[:, 0], nearest[:, 1], direction="INVERSE")
    return np.where(inside, lon, out_lon), np.where(inside, lat, out_lat)


def _nearest_lonlat(
    lon: npt.ArrayLike, lat: npt.ArrayLike, geoms: GeometryInput
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    geom_arr = _as_geometry_array(geoms)
    lons, lats, garr = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), geom_arr)
    lons, lats, garr = lons.ravel(), lats.ravel(), garr.ravel()
    near_lon, near_lat = np.full(lons.shape, np.nan), np.full(lons.shape, np.nan)
    # One projection per rounded centre: a few hundred metres off-centre changes the nearest point negligibly.
    centres = np.round(np.column_stack([lons, lats]), _CENTRE_DECIMALS)
    unique, group = np.unique(centres, axis=0, return_inverse=True)
    for k, (clon, clat) in enumerate(unique):
        idx = group.ravel() == k
        aeqd = _aeqd(float(clon), float(clat))
        near_lon[idx], near_lat[idx] = _nearest_group(lons[idx], lats[idx], garr[idx], aeqd)
    return lons, lats, near_lon, near_lat


def distance_to_geometry_m(lon: float, lat: float, geom: BaseGeometry) -> tuple[float, float, float]:
    """Return the geodesic distance from a point to the nearest point of a lon/lat geometry.

    Parameters
    ----------
    lon, lat : float
        The query point in degrees.
    geom : shapely geometry
        Lon/lat geometry; for a polygon the distance is to its boundary (0 inside), not its centroid.

    Returns
    -------
    tuple of float
        ``(distance_m, nearest_lon, nearest_lat)``; the nearest point is the query point itself when
        it lies inside or on the geometry, and all NaN for an empty geometry.
    """
    lons, lats, near_lon, near_lat = _nearest_lonlat(lon, lat, geom)
    dist = geodesic_distance_m(lons, lats, near_lon, near_lat)
    return float(dist[0]), float(near_lon[0]), float(near_lat[0])


def distances_to_geometries_m(
    lon: npt.ArrayLike, lat: npt.ArrayLike, geoms: GeometryInput
) -> tuple[FloatArray, FloatArray]:
    """Return distances and bearings from points to the nearest points of lon/lat geometries.

    Parameters
    ----------
    lon, lat : float or array_like
        Query point(s) in degrees, broadcast against ``geoms`` (one point against many geometries,
        or pairwise).
    geoms : sequence of geometries or GeoSeries
        Lon/lat geometries.

    Returns
    -------
    tuple of numpy.ndarray
        Distances in metres (0 inside polygons, NaN for empty or missing geometries) and bearings in
        degrees clockwise from north toward the nearest point (0 where the distance is 0).
    """
    lons, lats, near_lon, near_lat = _nearest_lonlat(lon, lat, geoms)
    dist, bearing = _inv(lons, lats, near_lon, near_lat)
    bearing[dist == 0] = 0.0
    shape = np.broadcast_shapes(np.shape(lon), np.shape(lat), _as_geometry_array(geoms).shape)
    return dist.reshape(shape), bearing.reshape(shape)
