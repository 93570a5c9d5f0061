"""Where a project may be drawn: a valid geometry of its layer's type, in CRS84, inside its county.

The county is the one given (``county``, an adcode) or the one holding the geometry's representative
point. The whole outline must lie inside that county's boundary, measured in metres on the county's
Gauss-Kruger zone; ``COUNTY_TOLERANCE_M`` allows for the boundary data's own noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import geopandas as gpd
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.crs import gk_zone_for_bounds, transform_geometry
from geo.errors import InvalidGeometry
from geo.measure import area_mu, geodesic_length_m
from layers.boundaries import DIVISIONS, county_of
from layers.errors import OutsideCounty
from layers.import_geometry import conform_geometry
from layers.models import Layer

COUNTY_TOLERANCE_M = 50.0
"""How far (metres) an outline may stray outside its county's boundary: the boundary data's noise."""
_GEOJSON_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
_DENSIFY_M = 20.0


def parse_geometry(layer: Layer, obj: Any) -> BaseGeometry:
    """Return a GeoJSON geometry (CRS84) as a valid 2D geometry of the layer's type (Polygon -> MultiPolygon).

    Raises
    ------
    InvalidGeometry
        When it is not a GeoJSON geometry, cannot be read, leaves lon/lat ranges, is invalid (the reason is
        named) or does not fit the layer's geometry type.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> square = {"type": "Polygon", "coordinates": [[[112.9, 27.8], [112.91, 27.8], [112.91, 27.81], [112.9, 27.8]]]}
    >>> parse_geometry(load_catalogue().get("farmland"), square).geom_type
    'MultiPolygon'
    """
    if not isinstance(obj, Mapping) or obj.get("type") not in _GEOJSON_TYPES:
        kind = obj.get("type") if isinstance(obj, Mapping) else type(obj).__name__
        raise InvalidGeometry(f"geometry: expected a GeoJSON geometry ({', '.join(_GEOJSON_TYPES)}), got {kind!r}")
    try:
        geom = shape(obj)
        coords = shapely.get_coordinates(geom)
    except (GEOSException, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise InvalidGeometry(f"geometry: cannot read the {obj.get('type')}: {exc}") from None
    if geom.is_empty:
        raise InvalidGeometry("geometry: it is empty")
    if not np.isfinite(coords).all():
        raise InvalidGeometry("geometry: coordinates must be finite numbers")
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise InvalidGeometry("geometry: coordinates must be lon/lat in CRS84 (lon -180..180, lat -90..90)")
    out, _, problem = conform_geometry(geom, layer.geometry_type, repair=False)
    if problem is not None or out is None:
        raise InvalidGeometry(f"geometry: {problem}")
    if layer.geometry_type == "MultiPolygon" and area_mu(out) <= 0:
        raise InvalidGeometry("geometry: the polygon has no area")
    return out


def _outside_m(geom: BaseGeometry, county: BaseGeometry) -> float:
    """Return how far (metres) the geometry reaches outside ``county``, 0 when it lies inside."""
    epsg = gk_zone_for_bounds(county.bounds)
    geom_m, county_m = transform_geometry(np.array([geom, county], dtype=object), 4326, epsg)
    beyond = shapely.difference(geom_m, county_m)
    if beyond.is_empty:
        return 0.0
    points = shapely.points(shapely.get_coordinates(shapely.segmentize(beyond, _DENSIFY_M)))
    return float(shapely.distance(county_m, points).max(initial=0.0))


def place_in_county(geom: BaseGeometry, given: str | None, counties: gpd.GeoDataFrame) -> str:
    """Return the project's county adcode after checking its geometry lies inside that county.

    Raises
    ------
    OutsideCounty
        When no county holds the geometry's representative point, or the geometry reaches more than
        ``COUNTY_TOLERANCE_M`` beyond its county's boundary (the message names the county and how far).
    """
    adcode = given or str(county_of(geom, counties)[0])
    if not adcode:
        raise OutsideCounty("the geometry lies outside Xiangtan's five counties; draw it inside one of them")
    rows = counties[(counties["id"] == adcode) & (counties["level"] == "county")]
    if rows.empty:
        raise OutsideCounty(f"county {adcode!r} is not one of Xiangtan's counties")
    beyond = _outside_m(geom, rows.geometry.iloc[0])
    if beyond > COUNTY_TOLERANCE_M:
        division = DIVISIONS[adcode]
        far = f"{beyond / 1000:.2f} km" if beyond >= 1000 else f"{beyond:.0f} m"
        raise OutsideCounty(
            f"the geometry reaches {far} outside {division.name} ({division.name_en}, {adcode}); a project must lie "
            f"within its county (tolerance {COUNTY_TOLERANCE_M:g} m)"
        )
    return adcode


def measures(layer: Layer, geom: BaseGeometry) -> dict[str, float]:
    """Return the fields derived from the geometry: ``area_mu`` (geodesic, 2 decimals) or ``length_km`` (3)."""
    names, out = layer.field_names, {}
    if "area_mu" in names and layer.geometry_type == "MultiPolygon":
        out["area_mu"] = round(float(area_mu(geom)), 2)
    if "length_km" in names and layer.geometry_type == "MultiLineString":
        out["length_km"] = round(float(geodesic_length_m(geom)) / 1000.0, 3)
    return out
