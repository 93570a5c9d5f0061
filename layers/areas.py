"""Query areas for spatial progress: posted GeoJSON polygons, and how much of each feature counts inside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

import geopandas as gpd
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidGeometry
from geo.measure import geodesic_area_m2
from layers.models import Layer

_AREA_TYPES = ("Polygon", "MultiPolygon")


def parse_area(obj: Mapping[str, Any]) -> BaseGeometry:
    """Return the polygon of a GeoJSON Polygon/MultiPolygon geometry or a Feature holding one (CRS84).

    Parameters
    ----------
    obj : a parsed GeoJSON object (RFC 7946: lon/lat in degrees).

    Raises
    ------
    InvalidGeometry
        When the object is not a (Multi)Polygon geometry or Feature, cannot be read, leaves lon -180..180
        / lat -90..90, has no area, or is invalid (self-intersecting).

    Examples
    --------
    >>> parse_area({"type": "Polygon", "coordinates": [[[112, 27], [113, 27], [113, 28], [112, 27]]]}).area
    0.5
    """
    geometry = obj.get("geometry") if obj.get("type") == "Feature" else obj
    if not isinstance(geometry, Mapping) or geometry.get("type") not in _AREA_TYPES:
        kind = geometry.get("type") if isinstance(geometry, Mapping) else type(geometry).__name__
        raise InvalidGeometry(f"body: expected a GeoJSON Polygon or MultiPolygon (or a Feature of one), got {kind}")
    try:
        geom = shape(geometry)
    except (GEOSException, ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidGeometry(f"body: cannot read the polygon: {exc}") from exc
    minx, miny, maxx, maxy = geom.bounds if not geom.is_empty else (0.0, 0.0, 0.0, 0.0)
    if geom.is_empty or geom.area == 0:
        raise InvalidGeometry("body: the polygon has no area")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidGeometry("body: coordinates must be lon/lat in CRS84 (lon -180..180, lat -90..90)")
    if not geom.is_valid:
        raise InvalidGeometry(f"body: the polygon is invalid: {shapely.is_valid_reason(geom)}")
    return geom


def area_weights(layer: Layer, geoms: gpd.GeoSeries, area: BaseGeometry) -> npt.NDArray[np.float64]:
    """Return how much of each feature counts inside ``area``, from 0 to 1.

    A polygon feature of a ``sum`` target (farmland mu) counts by its geodesic area share:
    area(feature ∩ area) / area(feature), both on the WGS84 ellipsoid after a planar intersection in
    lon/lat (edges are straight in lon/lat, as in GeoJSON). Any other feature counts 1 when its
    representative point (``shapely.point_on_surface``) lies in or on the area, else 0.
    """
    arr = np.asarray(geoms.array, dtype=object)
    sum_target = bool(layer.target and layer.target.measure == "sum")
    polygonal = np.isin(shapely.get_type_id(arr), [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    weights = shapely.intersects(area, shapely.point_on_surface(arr)).astype(float)
    by_area = polygonal & sum_target
    if by_area.any():
        parts = shapely.intersection(arr[by_area], area)
        whole = geodesic_area_m2(arr[by_area])
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(whole > 0, geodesic_area_m2(parts) / whole, 0.0)
        weights[by_area] = np.clip(np.nan_to_num(share), 0.0, 1.0)
    return np.asarray(weights, dtype=np.float64)


def clip_area(area: BaseGeometry, bbox: tuple[float, float, float, float] | None) -> BaseGeometry:
    """Return ``area`` limited to ``bbox`` when one is given (both CRS84).

    Raises ``InvalidGeometry`` when they do not overlap.
    """
    if bbox is None:
        return area
    clipped = shapely.intersection(area, shapely.box(*bbox))
    if clipped.is_empty or clipped.area == 0:
        raise InvalidGeometry("body: the polygon does not overlap bbox")
    return clipped
